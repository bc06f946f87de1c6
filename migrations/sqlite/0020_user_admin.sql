-- What Synapse's user admin API shows and sets beyond the columns of 0001:
-- `suspended` (PUT /_synapse/admin/v1/suspend: the homeserver refuses the
-- user's writes; logins and reads go on), `erased` (deactivated with
-- `erase`: Synapse's `erased_users`), and the avatar an admin sets with
-- PUT /_synapse/admin/v2/users (kept, as the display name is, for the
-- admin API's answers and to tell a delegating homeserver).
ALTER TABLE users ADD COLUMN suspended BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE users ADD COLUMN erased BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE users ADD COLUMN avatar_url TEXT;
-- The admin user list pages by keyset in these orders too (the name's is
-- the primary key); the expressions are those of `store/user_list.rs`.
CREATE INDEX users_displayname_order ON users (COALESCE(displayname, ''), name);
CREATE INDEX users_created_order ON users (created_ts, name);
