-- tcss asset refresh. One row per account serialises CreateRefreshTask (the one-unfinished
-- rule) and allocates the account's numeric TaskIds.
CREATE TABLE tcss_accounts (
    account       TEXT    PRIMARY KEY,
    last_task_id  BIGINT  NOT NULL
);

CREATE TABLE tcss_refresh_tasks (
    account         TEXT    NOT NULL,
    task_id         BIGINT  NOT NULL,
    new_task_id     TEXT    NOT NULL,
    engine_task_id  TEXT    NOT NULL UNIQUE REFERENCES tg_tasks (id),
    created_at_ms   BIGINT  NOT NULL,
    PRIMARY KEY (account, task_id)
);

-- The account's inventory (JSON), replaced whole by each successful refresh.
CREATE TABLE tcss_inventory (
    account         TEXT    PRIMARY KEY,
    task_id         BIGINT  NOT NULL,
    refreshed_at_ms BIGINT  NOT NULL,
    inventory       TEXT    NOT NULL
);
