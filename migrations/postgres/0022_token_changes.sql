-- Every process's token cache is told, through NOTIFY on the channel
-- `mxauth_token_changes` (src/store/changes.rs listens), of each access
-- token deleted or changed in a way request authentication sees
-- (payload `t:<hex of its hash>`) and of each user whose flags it reads
-- changed (`u:<user ID>`). Triggers, so every path (the server, the CLI,
-- another process, an admin's SQL) is covered; notifications are sent at
-- commit, in commit order, and not at all on rollback.
CREATE FUNCTION mxauth_token_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('mxauth_token_changes', 't:' || encode(OLD.token_hash, 'hex'));
    RETURN NULL;
END $$;

CREATE FUNCTION mxauth_user_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('mxauth_token_changes', 'u:' || OLD.name);
    RETURN NULL;
END $$;

CREATE TRIGGER access_tokens_deleted AFTER DELETE ON access_tokens
    FOR EACH ROW EXECUTE FUNCTION mxauth_token_changed();

CREATE TRIGGER access_tokens_changed
    AFTER UPDATE OF token_hash, user_id, device_id, puppet_owner, valid_until_ts,
        refresh_token_id, first_used_ts, oauth_client_id, scope ON access_tokens
    FOR EACH ROW EXECUTE FUNCTION mxauth_token_changed();

CREATE TRIGGER users_flags_changed
    AFTER UPDATE OF name, deactivated, locked, is_guest, admin ON users
    FOR EACH ROW
    WHEN (OLD.name IS DISTINCT FROM NEW.name OR OLD.deactivated IS DISTINCT FROM NEW.deactivated
        OR OLD.locked IS DISTINCT FROM NEW.locked OR OLD.is_guest IS DISTINCT FROM NEW.is_guest
        OR OLD.admin IS DISTINCT FROM NEW.admin)
    EXECUTE FUNCTION mxauth_user_changed();

CREATE TRIGGER users_deleted AFTER DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION mxauth_user_changed();
