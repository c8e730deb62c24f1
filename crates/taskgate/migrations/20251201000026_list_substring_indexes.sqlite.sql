-- Substring filters on an index: an FTS5 table of trigrams beside each table a list filters by
-- substring (the ecm images' folded name and OS name; the tcss containers' name, image and
-- status, the tcss images' name and id), its content the table's own rows (external content,
-- keyed by rowid), kept in step by triggers in the writing statement's transaction. A list
-- narrows a substring of 3 or more characters to the rowids the trigram index finds (folding
-- case wider than the lists do), then keeps its own `LIKE` on those rows, so what matches is
-- exactly what matched before. Derived data: a rebuild of a base table that renumbers its rowids
-- (as VACUUM may for a table without an INTEGER PRIMARY KEY) needs
-- `INSERT INTO <table>_fts (<table>_fts) VALUES ('rebuild')` after it.
CREATE VIRTUAL TABLE ecm_images_fts USING fts5(
    image_name_folded, os_name_folded, content = 'ecm_images', tokenize = 'trigram');
CREATE TRIGGER ecm_images_fts_insert AFTER INSERT ON ecm_images BEGIN
    INSERT INTO ecm_images_fts (rowid, image_name_folded, os_name_folded)
    VALUES (new.rowid, new.image_name_folded, new.os_name_folded);
END;
CREATE TRIGGER ecm_images_fts_delete AFTER DELETE ON ecm_images BEGIN
    INSERT INTO ecm_images_fts (ecm_images_fts, rowid, image_name_folded, os_name_folded)
    VALUES ('delete', old.rowid, old.image_name_folded, old.os_name_folded);
END;
CREATE TRIGGER ecm_images_fts_update AFTER UPDATE OF image_name_folded, os_name_folded ON ecm_images BEGIN
    INSERT INTO ecm_images_fts (ecm_images_fts, rowid, image_name_folded, os_name_folded)
    VALUES ('delete', old.rowid, old.image_name_folded, old.os_name_folded);
    INSERT INTO ecm_images_fts (rowid, image_name_folded, os_name_folded)
    VALUES (new.rowid, new.image_name_folded, new.os_name_folded);
END;
INSERT INTO ecm_images_fts (ecm_images_fts) VALUES ('rebuild');

CREATE VIRTUAL TABLE tcss_containers_fts USING fts5(
    container_name, image_name, status, content = 'tcss_containers', tokenize = 'trigram');
CREATE TRIGGER tcss_containers_fts_insert AFTER INSERT ON tcss_containers BEGIN
    INSERT INTO tcss_containers_fts (rowid, container_name, image_name, status)
    VALUES (new.rowid, new.container_name, new.image_name, new.status);
END;
CREATE TRIGGER tcss_containers_fts_delete AFTER DELETE ON tcss_containers BEGIN
    INSERT INTO tcss_containers_fts (tcss_containers_fts, rowid, container_name, image_name, status)
    VALUES ('delete', old.rowid, old.container_name, old.image_name, old.status);
END;
CREATE TRIGGER tcss_containers_fts_update AFTER UPDATE OF container_name, image_name, status ON tcss_containers BEGIN
    INSERT INTO tcss_containers_fts (tcss_containers_fts, rowid, container_name, image_name, status)
    VALUES ('delete', old.rowid, old.container_name, old.image_name, old.status);
    INSERT INTO tcss_containers_fts (rowid, container_name, image_name, status)
    VALUES (new.rowid, new.container_name, new.image_name, new.status);
END;
INSERT INTO tcss_containers_fts (tcss_containers_fts) VALUES ('rebuild');

CREATE VIRTUAL TABLE tcss_images_fts USING fts5(
    image_name, image_id, content = 'tcss_images', tokenize = 'trigram');
CREATE TRIGGER tcss_images_fts_insert AFTER INSERT ON tcss_images BEGIN
    INSERT INTO tcss_images_fts (rowid, image_name, image_id) VALUES (new.rowid, new.image_name, new.image_id);
END;
CREATE TRIGGER tcss_images_fts_delete AFTER DELETE ON tcss_images BEGIN
    INSERT INTO tcss_images_fts (tcss_images_fts, rowid, image_name, image_id)
    VALUES ('delete', old.rowid, old.image_name, old.image_id);
END;
CREATE TRIGGER tcss_images_fts_update AFTER UPDATE OF image_name, image_id ON tcss_images BEGIN
    INSERT INTO tcss_images_fts (tcss_images_fts, rowid, image_name, image_id)
    VALUES ('delete', old.rowid, old.image_name, old.image_id);
    INSERT INTO tcss_images_fts (rowid, image_name, image_id) VALUES (new.rowid, new.image_name, new.image_id);
END;
INSERT INTO tcss_images_fts (tcss_images_fts) VALUES ('rebuild');
