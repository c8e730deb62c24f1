-- Substring filters on an index: pg_trgm GIN indexes on the expressions the lists match with
-- `LIKE '%…%'` (the ecm images' folded name and OS name; the tcss containers' lowercased name,
-- image and status, the tcss images' lowercased name and id). pg_trgm is a trusted extension
-- (PostgreSQL 13+): the database user needs CREATE on the database, or an operator creates it
-- first. It goes to `public` when there is one the user may create in, else to the first schema
-- of the search path; `public` rather than a schema of the deployment's own (a test
-- schema dropped with CASCADE would take it and every other schema's indexes with it); the
-- indexes name its operator class in whichever schema holds it. The migration runner holds its
-- advisory lock on the database, so concurrent starts do not race to create it.
DO $$
DECLARE
    trgm TEXT;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
        IF EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'public')
           AND has_schema_privilege('public', 'CREATE') THEN
            CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public;
        ELSE
            CREATE EXTENSION IF NOT EXISTS pg_trgm;
        END IF;
    END IF;
    SELECT n.nspname INTO trgm FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
    WHERE e.extname = 'pg_trgm';
    EXECUTE format('CREATE INDEX ecm_images_name_trgm ON ecm_images USING gin (image_name_folded %I.gin_trgm_ops)', trgm);
    EXECUTE format('CREATE INDEX ecm_images_os_name_trgm ON ecm_images USING gin (os_name_folded %I.gin_trgm_ops)', trgm);
    EXECUTE format('CREATE INDEX tcss_containers_name_trgm ON tcss_containers USING gin (lower(container_name) %I.gin_trgm_ops)', trgm);
    EXECUTE format('CREATE INDEX tcss_containers_image_trgm ON tcss_containers USING gin (lower(image_name) %I.gin_trgm_ops)', trgm);
    EXECUTE format('CREATE INDEX tcss_containers_status_trgm ON tcss_containers USING gin (lower(status) %I.gin_trgm_ops)', trgm);
    EXECUTE format('CREATE INDEX tcss_images_name_trgm ON tcss_images USING gin (lower(image_name) %I.gin_trgm_ops)', trgm);
    EXECUTE format('CREATE INDEX tcss_images_id_trgm ON tcss_images USING gin (lower(image_id) %I.gin_trgm_ops)', trgm);
END
$$;
