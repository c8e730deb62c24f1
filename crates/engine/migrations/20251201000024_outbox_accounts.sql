-- Outbox turns per account (see `outbox.rs`, CLAIM_*): each callback carries its task's account
-- ('' for a callback of no task), so a claim serves accounts in turn, each account's oldest due
-- callback first, and a node caps each account's deliveries in flight.
ALTER TABLE tg_outbox ADD COLUMN account TEXT NOT NULL DEFAULT '';
UPDATE tg_outbox SET account = COALESCE((SELECT t.account FROM tg_tasks t WHERE t.id = tg_outbox.task_id), '');
DROP INDEX tg_outbox_due;
CREATE INDEX tg_outbox_due_by_account ON tg_outbox (account, next_attempt_at_ms) WHERE state = 'pending';
