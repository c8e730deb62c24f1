-- What an import found lives in its task's output, written with the task's success. The
-- location was recorded only on the image: it moves into the output before the columns go.
UPDATE tg_tasks
SET result = json_set(result, '$.location', (SELECT i.location FROM ecm_images i WHERE i.engine_task_id = tg_tasks.id))
WHERE result IS NOT NULL
  AND id IN (SELECT engine_task_id FROM ecm_images WHERE imported AND location IS NOT NULL);
ALTER TABLE ecm_images DROP COLUMN imported;
ALTER TABLE ecm_images DROP COLUMN format;
ALTER TABLE ecm_images DROP COLUMN size_bytes;
ALTER TABLE ecm_images DROP COLUMN virtual_size;
ALTER TABLE ecm_images DROP COLUMN sha256;
ALTER TABLE ecm_images DROP COLUMN md5;
ALTER TABLE ecm_images DROP COLUMN location;
