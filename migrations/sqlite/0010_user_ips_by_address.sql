-- Client IPs keyed as Synapse keys them: one row per (user, token,
-- address), holding the latest user agent seen (truncated to 512
-- characters by mxauth). The user agent is no longer part of the key, so a
-- client cannot add rows by varying it, and a long one no longer makes an
-- index entry too large (PostgreSQL refused such rows, and with them the
-- whole batch). Existing rows are merged, keeping the latest of each key.
CREATE TABLE user_ips_by_address (
    user_id     TEXT NOT NULL,
    token_id    BIGINT NOT NULL,
    ip          TEXT NOT NULL,
    user_agent  TEXT NOT NULL,
    device_id   TEXT,
    last_seen   BIGINT NOT NULL,
    PRIMARY KEY (user_id, token_id, ip)
);
INSERT INTO user_ips_by_address (user_id, token_id, ip, user_agent, device_id, last_seen)
SELECT u.user_id, u.token_id, u.ip, substr(u.user_agent, 1, 512), u.device_id, u.last_seen
FROM user_ips u
WHERE NOT EXISTS (
    SELECT 1 FROM user_ips v
    WHERE v.user_id = u.user_id AND v.token_id = u.token_id AND v.ip = u.ip
      AND (v.last_seen > u.last_seen
           OR (v.last_seen = u.last_seen AND v.user_agent > u.user_agent))
);
DROP TABLE user_ips;
ALTER TABLE user_ips_by_address RENAME TO user_ips;
CREATE INDEX user_ips_last_seen ON user_ips (last_seen);
