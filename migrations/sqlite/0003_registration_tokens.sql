-- Tokens that registration can require (m.login.registration_token), as
-- Synapse keeps them: a use is pending while a UIA session holds the token
-- and completed once the registration is done.
CREATE TABLE registration_tokens (
    token         TEXT PRIMARY KEY NOT NULL,
    uses_allowed  BIGINT,
    pending       BIGINT NOT NULL DEFAULT 0,
    completed     BIGINT NOT NULL DEFAULT 0,
    expiry_time   BIGINT
);
