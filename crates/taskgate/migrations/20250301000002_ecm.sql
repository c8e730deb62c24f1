-- ecm custom image import. A counter row allocates the integer-like task ids.
CREATE TABLE ecm_counters (
    name   TEXT    PRIMARY KEY,
    value  BIGINT  NOT NULL
);

-- An image exists from ImportCustomImage on; its state follows its import task until the
-- import succeeded and filled in what was found.
CREATE TABLE ecm_images (
    image_id        TEXT    PRIMARY KEY,
    account         TEXT    NOT NULL,
    image_name      TEXT    NOT NULL,
    description     TEXT    NOT NULL,
    os_type         TEXT    NOT NULL,
    os_version      TEXT    NOT NULL,
    architecture    TEXT    NOT NULL,
    init_flag       TEXT    NOT NULL,
    task_id         BIGINT  NOT NULL,
    engine_task_id  TEXT    NOT NULL UNIQUE REFERENCES tg_tasks (id),
    created_at_ms   BIGINT  NOT NULL,
    imported        BOOLEAN NOT NULL DEFAULT FALSE,
    format          TEXT,
    size_bytes      BIGINT,
    virtual_size    BIGINT,
    sha256          TEXT,
    md5             TEXT,
    location        TEXT,
    UNIQUE (account, image_name)
);
CREATE UNIQUE INDEX ecm_images_task ON ecm_images (task_id);
