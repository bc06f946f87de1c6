-- An email validation session is used once: when a UIA stage, a 3PID add
-- or a password reset uses it, it is spent for the operation (the UIA
-- session) that used it, and no other operation can use it again.
ALTER TABLE threepid_validation_sessions ADD COLUMN spent_at BIGINT;
ALTER TABLE threepid_validation_sessions ADD COLUMN spent_by TEXT;

-- A UIA session's URI is now stored without the request's access_token:
-- drop the sessions in flight that stored one (their clients start again).
-- Registration sessions are kept: they may hold a registration token.
DELETE FROM uia_completed_stages WHERE session_id IN (
    SELECT session_id FROM uia_sessions
    WHERE uri LIKE '%access_token%' AND server_dict NOT LIKE '%"registration_token"%'
);
DELETE FROM uia_sessions
WHERE uri LIKE '%access_token%' AND server_dict NOT LIKE '%"registration_token"%';
