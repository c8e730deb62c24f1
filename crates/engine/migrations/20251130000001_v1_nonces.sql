-- HmacSHA1/HmacSHA256 (v1) requests seen within their validity window: the same signed request
-- (SecretId, Timestamp, Nonce and the Signature over all of it) is accepted once, on every node
-- sharing the database. The signature is part of the key because clients reuse nonces across
-- different requests (the Node SDK draws them from 0..65535).
CREATE TABLE tg_v1_nonces (
    secret_id           TEXT    NOT NULL,
    timestamp           BIGINT  NOT NULL,
    nonce               TEXT    NOT NULL,
    signature           TEXT    NOT NULL,
    expires_at          BIGINT  NOT NULL,
    PRIMARY KEY (secret_id, timestamp, nonce, signature)
);
CREATE INDEX tg_v1_nonces_expiry ON tg_v1_nonces (expires_at);
