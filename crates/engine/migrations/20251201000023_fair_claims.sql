-- Fair claims (see `worker.rs`, CLAIM_*): a claim walks the accounts with queued tasks of a kind
-- (a skip scan over this index), takes each account's oldest due tasks from it, and orders them by
-- the account's running tasks of the kind, counted from `tg_tasks_running`. The per-kind FIFO index
-- it replaces served only the first-in-first-out claim.
DROP INDEX tg_tasks_ready;
CREATE INDEX tg_tasks_ready_by_account ON tg_tasks (kind, account, next_run_at_ms) WHERE state = 'queued';
CREATE INDEX tg_tasks_running ON tg_tasks (kind, account) WHERE state = 'running';
