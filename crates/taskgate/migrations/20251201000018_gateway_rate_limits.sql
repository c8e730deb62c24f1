-- The group's rate limits on PostgreSQL: one row per (account, action) holding its GCRA
-- theoretical arrival time in microseconds of the database clock, so every node spends one
-- budget. SQLite (one node) keeps its limits in memory and leaves the table empty.
CREATE TABLE tg_rate_limits (
    account TEXT NOT NULL,
    action TEXT NOT NULL,
    tat_us BIGINT NOT NULL,
    PRIMARY KEY (account, action)
);
