-- OAuth 2.0 clients registered through dynamic client registration
-- (RFC 7591; the clients of the config file are not stored). `metadata` is
-- the JSON of the metadata as accepted; `client_secret_hash` the hex
-- SHA-256 of the secret issued to a confidential client (the secret itself
-- is never stored). A public client's `metadata_hash` makes an identical
-- registration answer with the same client (`last_registered_ts` then
-- moves). A client that never got a session (`last_session_ts` NULL) is
-- pruned some time after its last registration.
CREATE TABLE oauth_clients (
    client_id           TEXT PRIMARY KEY NOT NULL,
    metadata            TEXT NOT NULL,
    metadata_hash       TEXT,
    client_secret_hash  TEXT,
    created_ts          BIGINT NOT NULL,
    last_registered_ts  BIGINT NOT NULL,
    last_session_ts     BIGINT
);
CREATE UNIQUE INDEX oauth_clients_metadata_hash ON oauth_clients (metadata_hash);
CREATE INDEX oauth_clients_unused ON oauth_clients (last_registered_ts)
    WHERE last_session_ts IS NULL;

-- The keys that sign id_tokens, shared by every process. At most one
-- current key per algorithm (`retired_ts` NULL): the first process to start
-- inserts it, the others find it. A retired key signs nothing more but is
-- published in the JWKS until the tokens it signed have expired.
CREATE TABLE oauth_signing_keys (
    kid          TEXT PRIMARY KEY NOT NULL,
    alg          TEXT NOT NULL,
    private_pem  TEXT NOT NULL,
    public_jwk   TEXT NOT NULL,
    created_ts   BIGINT NOT NULL,
    retired_ts   BIGINT
);
CREATE UNIQUE INDEX oauth_signing_keys_current ON oauth_signing_keys (alg)
    WHERE retired_ts IS NULL;
