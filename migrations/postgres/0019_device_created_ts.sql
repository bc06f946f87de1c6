-- When a device (a legacy login or an OAuth 2.0 session) was created, for
-- the account pages' list of sessions. NULL for devices created before
-- this migration (the pages then show their oldest token's time). 0019:
-- 0018 is the device authorization grant's.
ALTER TABLE devices ADD COLUMN created_ts BIGINT;
