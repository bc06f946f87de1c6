-- Accounts, devices, access tokens, UIA sessions, shared-secret nonces.
-- Timestamps are milliseconds since the Unix epoch.

CREATE TABLE users (
    name           TEXT PRIMARY KEY NOT NULL,
    password_hash  TEXT,
    admin          BOOLEAN NOT NULL DEFAULT FALSE,
    user_type      TEXT,
    is_guest       BOOLEAN NOT NULL DEFAULT FALSE,
    deactivated    BOOLEAN NOT NULL DEFAULT FALSE,
    locked         BOOLEAN NOT NULL DEFAULT FALSE,
    creation_ts    BIGINT NOT NULL,
    displayname    TEXT,
    appservice_id  TEXT
);
CREATE INDEX users_lower_name ON users (lower(name));

CREATE TABLE devices (
    user_id       TEXT NOT NULL REFERENCES users (name),
    device_id     TEXT NOT NULL,
    display_name  TEXT,
    last_seen_ts  BIGINT,
    last_seen_ip  TEXT,
    PRIMARY KEY (user_id, device_id)
);

CREATE TABLE access_tokens (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    token_hash      BYTEA NOT NULL UNIQUE,
    user_id         TEXT NOT NULL REFERENCES users (name),
    device_id       TEXT,
    puppet_owner    TEXT,
    created_ts      BIGINT NOT NULL,
    valid_until_ms  BIGINT,
    last_used_ts    BIGINT
);
CREATE INDEX access_tokens_user_device ON access_tokens (user_id, device_id);

CREATE TABLE uia_sessions (
    session_id   TEXT PRIMARY KEY NOT NULL,
    creation_ts  BIGINT NOT NULL,
    uri          TEXT NOT NULL,
    method       TEXT NOT NULL,
    user_id      TEXT,
    client_dict  TEXT NOT NULL,
    server_dict  TEXT NOT NULL DEFAULT '{}',
    result       TEXT
);
CREATE INDEX uia_sessions_creation_ts ON uia_sessions (creation_ts);

CREATE TABLE uia_completed_stages (
    session_id  TEXT NOT NULL REFERENCES uia_sessions (session_id) ON DELETE CASCADE,
    stage_type  TEXT NOT NULL,
    result      TEXT NOT NULL,
    PRIMARY KEY (session_id, stage_type)
);

CREATE TABLE registration_nonces (
    nonce       TEXT PRIMARY KEY NOT NULL,
    created_ts  BIGINT NOT NULL
);
