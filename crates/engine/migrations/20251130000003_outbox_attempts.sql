-- Every delivery attempt of a callback, for inspection (`/_taskgate/callbacks`): when it
-- started, how long it took, the receiver's HTTP status or the error.
CREATE TABLE tg_outbox_attempts (
    event_id        TEXT    NOT NULL,
    attempt         BIGINT  NOT NULL,
    started_at_ms   BIGINT  NOT NULL,
    latency_ms      BIGINT  NOT NULL,
    status          BIGINT,
    error           TEXT,
    PRIMARY KEY (event_id, attempt)
);
CREATE INDEX tg_outbox_task ON tg_outbox (task_id);
