-- The OAuth 2.0 device authorization grant (RFC 8628, issue 14): a device
-- without a browser asks for a device code and a user code; the user types
-- the user code at mxauth's verification page, logs in and approves; the
-- device polls the token endpoint with the device code until then.
CREATE TABLE oauth_device_grants (
    -- Random; names the grant in the pages' URLs once its user code was
    -- typed (not a secret: the browser's cookie binds it).
    device_grant_id TEXT PRIMARY KEY NOT NULL,
    -- SHA-256 of the device code: the code itself is never stored.
    device_code_hash BLOB NOT NULL UNIQUE,
    -- What the user types, normalised (upper case, no separator).
    user_code TEXT NOT NULL UNIQUE,
    client_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    created_ts BIGINT NOT NULL,
    expires_ts BIGINT NOT NULL,
    -- The polling interval the device must keep (slow_down adds to it).
    interval_ms BIGINT NOT NULL,
    last_polled_ts BIGINT,
    -- SHA-256 of the cookie of the browser that typed the user code.
    browser_binding_hash BLOB,
    -- pending, approved, denied or exchanged
    status TEXT NOT NULL,
    -- Set when the user approves (or declines).
    user_id TEXT,
    auth_ts BIGINT,
    -- Set when the tokens are issued.
    device_id TEXT
);
CREATE INDEX oauth_device_grants_expires ON oauth_device_grants (expires_ts);
