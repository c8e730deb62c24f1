-- Durable tasks. Times are Unix milliseconds. JSON is stored as text on both backends so the
-- same statements and Rust types serve both.
CREATE TABLE tg_tasks (
    id                  TEXT    PRIMARY KEY,
    account             TEXT    NOT NULL,
    kind                TEXT    NOT NULL,
    state               TEXT    NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    input               TEXT    NOT NULL,
    result              TEXT,
    error               TEXT,
    progress            TEXT,
    callback_url        TEXT,
    created_at_ms       BIGINT  NOT NULL,
    started_at_ms       BIGINT,
    finished_at_ms      BIGINT,
    attempts            BIGINT  NOT NULL DEFAULT 0,
    max_attempts        BIGINT  NOT NULL,
    next_run_at_ms      BIGINT  NOT NULL,
    lease_owner         TEXT,
    lease_no            BIGINT  NOT NULL DEFAULT 0,
    lease_expires_at_ms BIGINT,
    heartbeat_at_ms     BIGINT,
    cancel_requested    BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX tg_tasks_ready ON tg_tasks (kind, next_run_at_ms) WHERE state = 'queued';
CREATE INDEX tg_tasks_leased ON tg_tasks (lease_owner) WHERE state = 'running';
CREATE INDEX tg_tasks_lease_expiry ON tg_tasks (lease_expires_at_ms) WHERE state = 'running';
CREATE INDEX tg_tasks_account ON tg_tasks (account, kind, created_at_ms);

-- Callbacks recorded in the transaction that finished their task, delivered at least once.
CREATE TABLE tg_outbox (
    event_id            TEXT    PRIMARY KEY,
    task_id             TEXT,
    url                 TEXT    NOT NULL,
    body                TEXT    NOT NULL,
    state               TEXT    NOT NULL CHECK (state IN ('pending', 'delivered', 'dead')),
    created_at_ms       BIGINT  NOT NULL,
    attempts            BIGINT  NOT NULL DEFAULT 0,
    next_attempt_at_ms  BIGINT  NOT NULL,
    delivered_at_ms     BIGINT,
    last_error          TEXT
);
CREATE INDEX tg_outbox_due ON tg_outbox (next_attempt_at_ms) WHERE state = 'pending';

-- Objects of the local public bucket and when the sweeper deletes them.
CREATE TABLE tg_object_expiry (
    object_key          TEXT    PRIMARY KEY,
    expires_at_ms       BIGINT  NOT NULL
);
CREATE INDEX tg_object_expiry_due ON tg_object_expiry (expires_at_ms);

-- ClientToken idempotency: a NULL response means the first request is still in progress.
CREATE TABLE tg_idempotency (
    account             TEXT    NOT NULL,
    action              TEXT    NOT NULL,
    token               TEXT    NOT NULL,
    response            TEXT,
    created_at_ms       BIGINT  NOT NULL,
    expires_at_ms       BIGINT  NOT NULL,
    PRIMARY KEY (account, action, token)
);
CREATE INDEX tg_idempotency_expiry ON tg_idempotency (expires_at_ms);
