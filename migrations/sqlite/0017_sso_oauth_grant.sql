-- Upstream single sign-on from the OAuth 2.0 login page (issue 13): a
-- login at an identity provider (and, if the user picks a username
-- afterwards, the pending sign-up) may continue an OAuth 2.0 grant
-- instead of going back to a client's redirectUrl with a login token.
ALTER TABLE sso_sessions ADD COLUMN oauth_grant_id TEXT;
ALTER TABLE sso_pending_registrations ADD COLUMN oauth_grant_id TEXT;

-- A legacy client's login through mxauth's own pages (spec v1.18,
-- MSC3824: /login/sso/redirect with the OAuth 2.0 API on and no upstream
-- provider): from the redirect until the browser goes back to the
-- client's redirectUrl with a login token. Bound to the browser like a
-- grant; used once.
CREATE TABLE oauth_compat_logins (
    compat_id TEXT PRIMARY KEY NOT NULL,
    redirect_url TEXT NOT NULL,
    -- SHA-256 of the value of the cookie of the browser that may continue it
    browser_binding_hash BLOB NOT NULL,
    created_ts BIGINT NOT NULL,
    expires_ts BIGINT NOT NULL
);
CREATE INDEX oauth_compat_logins_expires ON oauth_compat_logins (expires_ts);
