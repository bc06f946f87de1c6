-- SSO through upstream OpenID Connect (issue 7).

-- A login in progress at an identity provider: everything the callback
-- needs, so that any process can finish the flow. Used once (deleted when
-- the callback takes it).
CREATE TABLE sso_sessions (
    state TEXT PRIMARY KEY NOT NULL,
    idp_id TEXT NOT NULL,
    nonce TEXT NOT NULL,
    -- PKCE code verifier; sent to the provider's token endpoint
    code_verifier TEXT,
    client_redirect_url TEXT NOT NULL,
    -- SHA-256 of the random value in the browser's cookie
    browser_binding_hash BYTEA NOT NULL,
    -- set when the flow re-authenticates a user for a UIA session
    ui_auth_session_id TEXT,
    created_ts BIGINT NOT NULL,
    expires_ts BIGINT NOT NULL
);
CREATE INDEX sso_sessions_expires ON sso_sessions (expires_ts);

-- Links from an identity at a provider to a local user.
CREATE TABLE user_external_ids (
    auth_provider TEXT NOT NULL,
    external_id TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,
    created_ts BIGINT NOT NULL,
    PRIMARY KEY (auth_provider, external_id)
);
CREATE INDEX user_external_ids_user ON user_external_ids (user_id);

-- m.login.token: short-lived, single use, stored as SHA-256 only.
CREATE TABLE login_tokens (
    token_hash BYTEA PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,
    auth_provider_id TEXT,
    created_ts BIGINT NOT NULL,
    expires_ts BIGINT NOT NULL,
    used_ts BIGINT
);
CREATE INDEX login_tokens_expires ON login_tokens (expires_ts);

-- An SSO user choosing their username (confirm_localpart): what the
-- provider said, kept until the form is sent (or it expires).
CREATE TABLE sso_pending_registrations (
    session_id TEXT PRIMARY KEY NOT NULL,
    idp_id TEXT NOT NULL,
    external_id TEXT NOT NULL,
    suggested_localpart TEXT,
    display_name TEXT,
    email TEXT,
    client_redirect_url TEXT NOT NULL,
    -- SHA-256 of the random value in the browser's cookie
    browser_binding_hash BYTEA NOT NULL,
    expires_ts BIGINT NOT NULL
);
