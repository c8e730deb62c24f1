-- An account's inventory is the output of its latest succeeded refresh, written with the
-- task's success. The copy kept beside it moves into that task's output, then goes.
UPDATE tg_tasks
SET result = (
    SELECT i.inventory FROM tcss_inventory i
    JOIN tcss_refresh_tasks r ON r.account = i.account AND r.task_id = i.task_id
    WHERE r.engine_task_id = tg_tasks.id
)
WHERE id IN (
    SELECT r.engine_task_id FROM tcss_inventory i
    JOIN tcss_refresh_tasks r ON r.account = i.account AND r.task_id = i.task_id
);
DROP TABLE tcss_inventory;
