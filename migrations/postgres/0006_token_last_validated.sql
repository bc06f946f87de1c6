-- When the token's user last passed user-interactive auth (ui_auth.session_timeout).
ALTER TABLE access_tokens ADD COLUMN last_validated BIGINT;
