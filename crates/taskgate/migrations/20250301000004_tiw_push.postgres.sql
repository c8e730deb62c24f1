-- tiw whiteboard pushes. The engine task carries each push's input, live state (progress) and
-- result; these tables hold what is per application and what StartWhiteboardPush checks.

-- One row per SdkAppId that configured push callbacks or started a push. Starting a push
-- writes this row first, so concurrent starts of one application serialise on it.
CREATE TABLE tiw_apps (
    sdk_app_id          BIGINT  PRIMARY KEY,
    push_callback       TEXT    NOT NULL DEFAULT '',
    push_callback_key   TEXT    NOT NULL DEFAULT ''
);

CREATE TABLE tiw_pushes (
    task_id         TEXT    PRIMARY KEY,
    sdk_app_id      BIGINT  NOT NULL,
    room_id         BIGINT  NOT NULL,
    push_user_id    TEXT    NOT NULL,
    -- The main task of a backup push.
    backup_of       TEXT
);

CREATE INDEX tiw_pushes_by_user ON tiw_pushes (sdk_app_id, push_user_id);
