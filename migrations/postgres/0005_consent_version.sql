-- The version of the privacy policy (user_consent) a user accepted.
ALTER TABLE users ADD COLUMN consent_version TEXT;
