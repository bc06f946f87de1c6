-- Client IPs (Synapse's user_ips): one row per (user, token, address, user
-- agent), written in batches by each process. token_id is the access
-- token's row id (tokens are only ever stored hashed), -1 for requests made
-- with an application service's as_token. Rows outlive their token and are
-- pruned after `user_ips_max_age`.
CREATE TABLE user_ips (
    user_id     TEXT NOT NULL,
    token_id    BIGINT NOT NULL,
    ip          TEXT NOT NULL,
    user_agent  TEXT NOT NULL,
    device_id   TEXT,
    last_seen   BIGINT NOT NULL,
    PRIMARY KEY (user_id, token_id, ip, user_agent)
);
CREATE INDEX user_ips_last_seen ON user_ips (last_seen);

-- Monthly active users: when each user was last seen making an
-- authenticated request (refreshed at most hourly), reaped after 30 days.
CREATE TABLE monthly_active_users (
    user_id    TEXT PRIMARY KEY NOT NULL,
    last_seen  BIGINT NOT NULL
);
CREATE INDEX monthly_active_users_last_seen ON monthly_active_users (last_seen);
