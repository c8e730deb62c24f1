-- tiw document transcoding. The engine task carries each transcode's input, progress and
-- result; this table finds the newest task of a document URL (DescribeTranscodeByUrl) without
-- reading the tasks' JSON, and tiw_apps gains the transcode callback settings.

ALTER TABLE tiw_apps ADD COLUMN transcode_callback TEXT NOT NULL DEFAULT '';
ALTER TABLE tiw_apps ADD COLUMN transcode_callback_key TEXT NOT NULL DEFAULT '';

CREATE TABLE tiw_transcodes (
    task_id         TEXT    PRIMARY KEY,
    account         TEXT    NOT NULL,
    sdk_app_id      BIGINT  NOT NULL,
    -- SHA-256 of the URL as CreateTranscode received it: URLs can be longer than an index key.
    url_sha256      TEXT    NOT NULL,
    created_at_ms   BIGINT  NOT NULL
);

CREATE INDEX tiw_transcodes_by_url ON tiw_transcodes (sdk_app_id, url_sha256, created_at_ms);
CREATE INDEX tiw_transcodes_by_account ON tiw_transcodes (account);
