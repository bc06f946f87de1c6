-- Third-party identifiers bound to accounts, and email validation sessions.
CREATE TABLE user_threepids (
    user_id TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,
    medium TEXT NOT NULL,
    -- lower-cased for email
    address TEXT NOT NULL,
    validated_at BIGINT NOT NULL,
    added_at BIGINT NOT NULL,
    UNIQUE (medium, address)
);
CREATE INDEX user_threepids_user ON user_threepids (user_id);

CREATE TABLE threepid_validation_sessions (
    session_id TEXT NOT NULL PRIMARY KEY,
    medium TEXT NOT NULL,
    address TEXT NOT NULL,
    client_secret TEXT NOT NULL,
    last_send_attempt BIGINT NOT NULL,
    validated_at BIGINT,
    -- SHA-256 of the latest token sent; the token itself is never stored
    token_hash BLOB NOT NULL,
    token_expires_at BIGINT NOT NULL,
    next_link TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX threepid_validation_sessions_lookup
    ON threepid_validation_sessions (medium, address, client_secret);
