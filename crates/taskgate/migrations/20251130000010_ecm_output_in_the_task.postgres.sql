-- What an import found lives in its task's output, written with the task's success. The
-- location was recorded only on the image: it moves into the output before the columns go.
UPDATE tg_tasks t
SET result = jsonb_set(t.result::jsonb, '{location}', to_jsonb(i.location))::text
FROM ecm_images i
WHERE i.engine_task_id = t.id AND i.imported AND i.location IS NOT NULL AND t.result IS NOT NULL;
ALTER TABLE ecm_images
    DROP COLUMN imported,
    DROP COLUMN format,
    DROP COLUMN size_bytes,
    DROP COLUMN virtual_size,
    DROP COLUMN sha256,
    DROP COLUMN md5,
    DROP COLUMN location;
