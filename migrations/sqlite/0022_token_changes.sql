-- What a process's token cache must forget, for every process on this file
-- to read (src/store/changes.rs polls it): a row per access token deleted
-- or changed in a way request authentication sees, and per user whose
-- flags it reads changed. Written by triggers, so every path (the server,
-- the CLI, another process, an admin's SQL) is covered. AUTOINCREMENT: ids
-- only grow (a reader keeps the last one it saw), and a gap means rows were
-- swept before they were read. SQLite has one writer at a time, so rows
-- become visible in id order.
CREATE TABLE token_changes (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    token_hash  BLOB,
    user_id     TEXT,
    -- Database time (ms), for the sweep.
    created_ts  BIGINT NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000 AS INTEGER))
);

CREATE TRIGGER access_tokens_deleted AFTER DELETE ON access_tokens
BEGIN
    INSERT INTO token_changes (token_hash) VALUES (OLD.token_hash);
END;

CREATE TRIGGER access_tokens_changed
AFTER UPDATE OF token_hash, user_id, device_id, puppet_owner, valid_until_ts,
    refresh_token_id, first_used_ts, oauth_client_id, scope ON access_tokens
BEGIN
    INSERT INTO token_changes (token_hash) VALUES (OLD.token_hash);
END;

CREATE TRIGGER users_flags_changed
AFTER UPDATE OF name, deactivated, locked, is_guest, admin ON users
WHEN OLD.name IS NOT NEW.name OR OLD.deactivated IS NOT NEW.deactivated
    OR OLD.locked IS NOT NEW.locked OR OLD.is_guest IS NOT NEW.is_guest
    OR OLD.admin IS NOT NEW.admin
BEGIN
    INSERT INTO token_changes (user_id) VALUES (OLD.name);
END;

CREATE TRIGGER users_deleted AFTER DELETE ON users
BEGIN
    INSERT INTO token_changes (user_id) VALUES (OLD.name);
END;
