-- Board checkpoints of whiteboard rooms: the board after the log up to `seq`, so snapshots
-- and pushes replay only what follows. Derived from tiw_room_ops; deleting rows changes no
-- result. `format` is the whiteboard's checkpoint format (rows of another are ignored),
-- `marks` how many marks the log holds up to `seq`, and `user_id` and `received_at_ms` those
-- of the operation at `seq`, which a writer checks to be still there when it inserts.
CREATE TABLE tiw_room_checkpoints (
    sdk_app_id      BIGINT  NOT NULL,
    room_id         BIGINT  NOT NULL,
    seq             BIGINT  NOT NULL,
    marks           BIGINT  NOT NULL,
    user_id         TEXT    NOT NULL,
    received_at_ms  BIGINT  NOT NULL,
    format          INTEGER NOT NULL,
    state           TEXT    NOT NULL,
    PRIMARY KEY (sdk_app_id, room_id, seq)
);
