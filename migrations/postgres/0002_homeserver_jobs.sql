-- Calls to the homeserver (Synapse's /_synapse/mas API) waiting to be made,
-- in order per user, retried with backoff until they succeed. Kept here so
-- that a restart or a homeserver outage loses nothing.
CREATE TABLE homeserver_jobs (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id          TEXT NOT NULL,
    kind             TEXT NOT NULL,
    payload          TEXT NOT NULL,
    created_ts       BIGINT NOT NULL,
    attempts         BIGINT NOT NULL DEFAULT 0,
    next_attempt_ts  BIGINT NOT NULL,
    claimed_until    BIGINT,
    last_error       TEXT
);
CREATE INDEX homeserver_jobs_user ON homeserver_jobs (user_id, id);
CREATE INDEX homeserver_jobs_due ON homeserver_jobs (next_attempt_ts);
