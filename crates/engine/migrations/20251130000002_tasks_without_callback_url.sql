-- The engine never read a task's callback URL: callbacks carry their own (tg_outbox.url).
ALTER TABLE tg_tasks DROP COLUMN callback_url;
