-- Bumped by every password change: a password login issues its token only
-- if the version it verified against is still the user's, so a login racing
-- a change cannot keep a session the change should have ended.
ALTER TABLE users ADD COLUMN credentials_version BIGINT NOT NULL DEFAULT 0;

-- At most one device-list reconciliation waits per user.
DELETE FROM homeserver_jobs WHERE kind = 'sync_devices' AND id NOT IN
    (SELECT MIN(id) FROM homeserver_jobs WHERE kind = 'sync_devices' GROUP BY user_id);
CREATE UNIQUE INDEX homeserver_jobs_one_sync ON homeserver_jobs (user_id)
    WHERE kind = 'sync_devices';
