-- `mxauth import-synapse`: what each imported row was at Synapse when it
-- was last imported. A later run compares Synapse's row now, this, and
-- mxauth's row now: a change at Synapse is carried over only where mxauth
-- still holds what was imported (a change made at mxauth stays), a row
-- deleted at mxauth is not brought back, and a row gone from Synapse goes
-- from mxauth too. `user_id` is '' for rows of no user (registration
-- tokens); `kind` the table; `row_key` the row's key at Synapse (an id, or
-- the key's columns as a JSON array); `imported` the values as JSON
-- (tokens only as their SHA-256).
CREATE TABLE synapse_import_rows (
    user_id   TEXT NOT NULL,
    kind      TEXT NOT NULL,
    row_key   TEXT NOT NULL,
    imported  TEXT NOT NULL,
    PRIMARY KEY (user_id, kind, row_key)
);

-- A device's last user agent as Synapse kept it on the device (Synapse
-- prunes user_ips after 28 days but keeps the device's last sighting).
ALTER TABLE devices ADD COLUMN last_seen_user_agent TEXT;
