-- tiw whiteboard rooms: each room's operation log and its sequence counter. Snapshot tasks
-- need no table of their own: the engine task carries their input and result.
CREATE TABLE tiw_rooms (
    sdk_app_id  BIGINT  NOT NULL,
    room_id     BIGINT  NOT NULL,
    last_seq    BIGINT  NOT NULL,
    PRIMARY KEY (sdk_app_id, room_id)
);

CREATE TABLE tiw_room_ops (
    sdk_app_id      BIGINT  NOT NULL,
    room_id         BIGINT  NOT NULL,
    seq             BIGINT  NOT NULL,
    user_id         TEXT    NOT NULL,
    received_at_ms  BIGINT  NOT NULL,
    op              TEXT    NOT NULL,
    PRIMARY KEY (sdk_app_id, room_id, seq)
);

