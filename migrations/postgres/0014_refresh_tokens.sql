-- Refresh tokens (legacy API since spec v1.3, and the OAuth 2.0 API): one
-- session model for both. A refresh token is rotated on use: its row names
-- its successor (next_token_id) and the access token issued with it
-- (access_token_id). It keeps the session's lifetimes and, for an OAuth
-- grant, its client and scope, so a refresh reissues with the same ones.
-- session_until_ts is Synapse's ultimate session expiry (session_lifetime
-- from the first login, carried through rotations). Tokens are stored only
-- as SHA-256.
CREATE TABLE refresh_tokens (
    id                         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    token_hash                 BYTEA NOT NULL UNIQUE,
    user_id                    TEXT NOT NULL REFERENCES users (name),
    device_id                  TEXT NOT NULL,
    oauth_client_id            TEXT,
    scope                      TEXT,
    created_ts                 BIGINT NOT NULL,
    expires_ts                 BIGINT,
    session_until_ts           BIGINT,
    access_token_lifetime_ms   BIGINT,
    refresh_token_lifetime_ms  BIGINT,
    next_token_id              BIGINT,
    access_token_id            BIGINT
);
CREATE INDEX refresh_tokens_user_device ON refresh_tokens (user_id, device_id);
CREATE INDEX refresh_tokens_next_token_id ON refresh_tokens (next_token_id);

-- An access token issued with a refresh token names it; first_used_ts is
-- set at its first authenticated use (once), which ends the retry window
-- of the refresh token it replaced. oauth_client_id and scope are an OAuth
-- grant's (NULL: a legacy login, the full scope).
ALTER TABLE access_tokens ADD COLUMN refresh_token_id BIGINT;
ALTER TABLE access_tokens ADD COLUMN first_used_ts BIGINT;
ALTER TABLE access_tokens ADD COLUMN oauth_client_id TEXT;
ALTER TABLE access_tokens ADD COLUMN scope TEXT;
CREATE INDEX access_tokens_refresh_token_id ON access_tokens (refresh_token_id);
