-- How a test harness wants a task to go (held, finished by hand, a forced outcome): JSON of
-- `Directive`, NULL for an ordinary task.
ALTER TABLE tg_tasks ADD COLUMN directive TEXT;
