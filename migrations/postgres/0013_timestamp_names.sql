-- One name scheme for timestamps (milliseconds since the Unix epoch):
-- `<event>_ts`, the stem saying what happened or will happen at that
-- moment (created_ts, last_seen_ts, validated_ts, expires_ts), a bound
-- `<state>_until_ts` (valid_until_ts, claimed_until_ts). Only the columns
-- are renamed; the JSON of the APIs keeps its wire names (`expiry_time`,
-- `valid_until_ms`, `last_seen`, `validated_at`, `added_at`).
ALTER TABLE users RENAME COLUMN creation_ts TO created_ts;
ALTER TABLE uia_sessions RENAME COLUMN creation_ts TO created_ts;
ALTER TABLE access_tokens RENAME COLUMN valid_until_ms TO valid_until_ts;
ALTER TABLE access_tokens RENAME COLUMN last_validated TO last_validated_ts;
ALTER TABLE homeserver_jobs RENAME COLUMN claimed_until TO claimed_until_ts;
ALTER TABLE registration_tokens RENAME COLUMN expiry_time TO expires_ts;
ALTER TABLE user_threepids RENAME COLUMN validated_at TO validated_ts;
ALTER TABLE user_threepids RENAME COLUMN added_at TO added_ts;
ALTER TABLE threepid_validation_sessions RENAME COLUMN validated_at TO validated_ts;
ALTER TABLE threepid_validation_sessions RENAME COLUMN token_expires_at TO token_expires_ts;
ALTER TABLE threepid_validation_sessions RENAME COLUMN created_at TO created_ts;
ALTER TABLE threepid_validation_sessions RENAME COLUMN spent_at TO spent_ts;
ALTER TABLE user_ips RENAME COLUMN last_seen TO last_seen_ts;
ALTER TABLE monthly_active_users RENAME COLUMN last_seen TO last_seen_ts;

-- The indexes follow their columns; their names too.
DROP INDEX uia_sessions_creation_ts;
CREATE INDEX uia_sessions_created_ts ON uia_sessions (created_ts);
DROP INDEX user_ips_last_seen;
CREATE INDEX user_ips_last_seen_ts ON user_ips (last_seen_ts);
DROP INDEX monthly_active_users_last_seen;
CREATE INDEX monthly_active_users_last_seen_ts ON monthly_active_users (last_seen_ts);
