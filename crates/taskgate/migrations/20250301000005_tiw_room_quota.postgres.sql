-- Per-room quotas: the stored bytes of a room's operations and its snapshot marks, counted
-- on the counter row every append already locks, so a quota check costs no scan.
ALTER TABLE tiw_rooms ADD COLUMN bytes BIGINT NOT NULL DEFAULT 0;
ALTER TABLE tiw_rooms ADD COLUMN marks BIGINT NOT NULL DEFAULT 0;

UPDATE tiw_rooms SET
    bytes = (SELECT COALESCE(SUM(octet_length(o.op)), 0) FROM tiw_room_ops o
             WHERE o.sdk_app_id = tiw_rooms.sdk_app_id AND o.room_id = tiw_rooms.room_id),
    marks = (SELECT COUNT(*) FROM tiw_room_ops o
             WHERE o.sdk_app_id = tiw_rooms.sdk_app_id AND o.room_id = tiw_rooms.room_id
               AND o.op LIKE '%"op":"mark"}');
