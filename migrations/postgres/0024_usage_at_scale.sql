-- The monthly-active reaper (store/usage.rs) finds the entry past the
-- `max_mau_value` newest by walking this index from its newest end, ties
-- broken by user_id, without reading the table.
DROP INDEX monthly_active_users_last_seen_ts;
CREATE INDEX monthly_active_users_last_seen_ts_user_id ON monthly_active_users (last_seen_ts, user_id);

-- The users of application services, few among many: the monthly-active
-- count (store/usage.rs) counts those it holds through this index rather
-- than joining every entry with its user.
CREATE INDEX users_appservice ON users (name) WHERE appservice_id <> '';
