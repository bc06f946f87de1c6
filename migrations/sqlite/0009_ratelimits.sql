-- Rate-limit buckets (Synapse's rc_* limiters), shared by every process: a
-- leaky bucket per key. `level` is how full the bucket was at `updated_ts`
-- (it drains at the limiter's per_second); `refused` says whether the last
-- action was turned away; the row can go once `expires_ts` has passed
-- (the bucket is empty by then).
CREATE TABLE ratelimit_buckets (
    bucket      TEXT PRIMARY KEY NOT NULL,
    level       DOUBLE PRECISION NOT NULL,
    updated_ts  BIGINT NOT NULL,
    refused     BIGINT NOT NULL,
    expires_ts  BIGINT NOT NULL
);
CREATE INDEX ratelimit_buckets_expires ON ratelimit_buckets (expires_ts);

-- Synapse's per-user override (admin API `override_ratelimit`). It lifts
-- only limits tied to a logged-in user, never the /login or /register ones.
CREATE TABLE ratelimit_overrides (
    user_id              TEXT PRIMARY KEY NOT NULL,
    messages_per_second  BIGINT NOT NULL,
    burst_count          BIGINT NOT NULL
);
