-- Upstream single sign-on from the OAuth 2.0 login page (issue 13): a
-- login at an identity provider (and, if the user picks a username
-- afterwards, the pending sign-up) may continue an OAuth 2.0 grant
-- instead of going back to a client's redirectUrl with a login token.
ALTER TABLE sso_sessions ADD COLUMN oauth_grant_id TEXT;
ALTER TABLE sso_pending_registrations ADD COLUMN oauth_grant_id TEXT;
