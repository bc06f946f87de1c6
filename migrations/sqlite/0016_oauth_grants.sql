-- The OAuth 2.0 authorization code grant (issue 13): the browser's session
-- at mxauth, and each authorization request from /authorize to the token
-- endpoint, so that any process can continue either.

-- A browser logged in at mxauth's pages. Keyed by SHA-256 of the value of
-- its cookie: the cookie itself is never stored.
CREATE TABLE oauth_browser_sessions (
    session_hash BLOB PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,
    authenticated_ts BIGINT NOT NULL,
    expires_ts BIGINT NOT NULL
);
CREATE INDEX oauth_browser_sessions_user ON oauth_browser_sessions (user_id);
CREATE INDEX oauth_browser_sessions_expires ON oauth_browser_sessions (expires_ts);

-- An authorization request, from /authorize until its code is exchanged
-- (then kept until it expires, so a second use of the code is recognised
-- and revokes what the first issued).
CREATE TABLE oauth_grants (
    grant_id TEXT PRIMARY KEY NOT NULL,
    client_id TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    response_mode TEXT NOT NULL,
    scope TEXT NOT NULL,
    state TEXT,
    nonce TEXT,
    code_challenge TEXT NOT NULL,
    prompt TEXT,
    -- SHA-256 of the value of the cookie of the browser that may continue it
    browser_binding_hash BLOB NOT NULL,
    created_ts BIGINT NOT NULL,
    expires_ts BIGINT NOT NULL,
    -- set when the user approves
    user_id TEXT,
    auth_ts BIGINT,
    code_hash BLOB UNIQUE,
    -- set when the code is exchanged
    exchanged_ts BIGINT,
    device_id TEXT
);
CREATE INDEX oauth_grants_expires ON oauth_grants (expires_ts);
