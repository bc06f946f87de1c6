-- An email validation session is used once: when a UIA stage, a 3PID add
-- or a password reset uses it, it is spent for the operation (the UIA
-- session) that used it, and no other operation can use it again.
ALTER TABLE threepid_validation_sessions ADD COLUMN spent_at BIGINT;
ALTER TABLE threepid_validation_sessions ADD COLUMN spent_by TEXT;
