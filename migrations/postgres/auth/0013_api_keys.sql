-- Company API keys (issue 18, decision 0034): machine credentials of a company, each holding
-- its own permission patterns and modules. The secret is stored only as its SHA-256. A
-- revocation is a `session_revoked` event about the key's id, appended by trigger in the
-- transaction of the change (decision 0015), so every guard denies the key as it denies a
-- revoked session.

CREATE TABLE api_keys (
    id           UUID PRIMARY KEY,
    company_id   UUID NOT NULL REFERENCES companies (id),
    name         TEXT NOT NULL,
    -- `kisum_sk_` and the first digits of the id: shown in lists to recognise a key.
    prefix       TEXT NOT NULL,
    -- SHA-256 of the whole secret (256 random bits): never the secret.
    secret_hash  BYTEA NOT NULL,
    permissions  TEXT[] NOT NULL DEFAULT '{}',
    modules      TEXT[] NOT NULL DEFAULT '{}',
    -- The creator; NULL once that account is erased.
    created_by   UUID,
    created_at   TIMESTAMPTZ NOT NULL,
    expires_at   TIMESTAMPTZ,
    revoked_at   TIMESTAMPTZ,
    -- Recorded at most once a minute per key and Auth replica.
    last_used_at TIMESTAMPTZ
);

CREATE INDEX api_keys_by_company ON api_keys (company_id, created_at);

CREATE FUNCTION kisum_auth_api_key_event() RETURNS trigger AS $$
BEGIN
    PERFORM kisum_auth_append_event('session_revoked', NULL, NULL, NEW.id);
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER api_keys_revoked_event AFTER UPDATE OF revoked_at ON api_keys
FOR EACH ROW WHEN (OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL)
EXECUTE FUNCTION kisum_auth_api_key_event();
