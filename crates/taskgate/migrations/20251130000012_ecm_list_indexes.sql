-- The Describe actions filter, order and page an account's images in SQL. The name and the OS
-- name are matched case-insensitively anywhere in them, so they are kept lowercased beside the
-- image; the server writes them (Unicode lowercase) with each import, and existing images get
-- the database's lower() here (the same for every name ecm accepts but non-ASCII capitals on
-- SQLite, whose lower() folds ASCII only).
ALTER TABLE ecm_images ADD COLUMN image_name_folded TEXT NOT NULL DEFAULT '';
ALTER TABLE ecm_images ADD COLUMN os_name_folded TEXT NOT NULL DEFAULT '';
UPDATE ecm_images SET
    image_name_folded = lower(image_name),
    os_name_folded = lower(os_type || ' ' || os_version || ' '
        || CASE architecture WHEN 'i386' THEN '32' ELSE '64' END || '位');
-- Newest first within an account: the lists' order, paging and count, and the task-id filter.
-- It replaces the unique index on the task id alone, which a planner could walk backwards for
-- the order, filtering out every other tenant's images on the way (task ids come from one
-- counter, so they stay unique across accounts too).
DROP INDEX ecm_images_task;
CREATE UNIQUE INDEX ecm_images_account_task ON ecm_images (account, task_id);
