-- Company API keys (issue 18, decision 0034): machine credentials of a company, each holding
-- its own permission patterns and modules. The secret is stored only as its SHA-256. A
-- revocation is a `session_revoked` event about the key's id, appended by trigger in the
-- transaction of the change (decision 0015), so every guard denies the key as it denies a
-- revoked session. Times are INTEGER microseconds since the Unix epoch.

CREATE TABLE api_keys (
    id           BLOB PRIMARY KEY NOT NULL,
    company_id   BLOB NOT NULL REFERENCES companies (id),
    name         TEXT NOT NULL,
    -- `kisum_sk_` and the first digits of the id: shown in lists to recognise a key.
    prefix       TEXT NOT NULL,
    -- SHA-256 of the whole secret (256 random bits): never the secret.
    secret_hash  BLOB NOT NULL,
    permissions  TEXT NOT NULL DEFAULT '[]',
    modules      TEXT NOT NULL DEFAULT '[]',
    -- The creator; NULL once that account is erased.
    created_by   BLOB,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER,
    revoked_at   INTEGER,
    -- Recorded at most once a minute per key and Auth replica.
    last_used_at INTEGER
);

CREATE INDEX api_keys_by_company ON api_keys (company_id, created_at);

CREATE TRIGGER api_keys_revoked_event AFTER UPDATE OF revoked_at ON api_keys
WHEN OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL
BEGIN
    UPDATE auth_event_counter SET seq = seq + 1 WHERE id = 1;
    INSERT INTO auth_events (seq, at, kind, session_id)
    SELECT seq, CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER), 'session_revoked',
           NEW.id
    FROM auth_event_counter WHERE id = 1;
END;
