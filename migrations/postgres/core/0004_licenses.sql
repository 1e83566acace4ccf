-- Licences (issue 15, decision 0018): a company's licence key (stored only as its SHA-256
-- hash), seat limit, floating heartbeat interval (seconds, 0 = none), expiry and module
-- restrictions (a JSON array of module keys, NULL = none); one row per activation (licence x
-- fingerprint); and the append-only lifecycle events. The licence row is the lock every
-- activation takes (`SELECT ... FOR UPDATE`) before counting the seats in use.
CREATE TABLE licenses (
    id                 UUID PRIMARY KEY,
    company_id         UUID NOT NULL,
    name               TEXT NOT NULL,
    key_hash           BYTEA NOT NULL UNIQUE,
    max_activations    BIGINT NOT NULL CHECK (max_activations > 0),
    floating           BOOLEAN NOT NULL,
    heartbeat_interval BIGINT NOT NULL DEFAULT 0 CHECK (heartbeat_interval >= 0),
    expires_at         TIMESTAMPTZ,
    modules            TEXT,
    status             TEXT NOT NULL CHECK (status IN ('active', 'suspended', 'expired', 'revoked')),
    version            BIGINT NOT NULL CHECK (version > 0),
    created_at         TIMESTAMPTZ NOT NULL,
    updated_at         TIMESTAMPTZ NOT NULL
);
CREATE INDEX licenses_company_idx ON licenses (company_id, created_at);
-- What the reaper expires.
CREATE INDEX licenses_expiry_idx ON licenses (expires_at)
    WHERE status IN ('active', 'suspended') AND expires_at IS NOT NULL;

CREATE TABLE license_activations (
    id                UUID PRIMARY KEY,
    license_id        UUID NOT NULL REFERENCES licenses (id) ON DELETE CASCADE,
    fingerprint       TEXT NOT NULL,
    name              TEXT,
    created_at        TIMESTAMPTZ NOT NULL,
    last_heartbeat_at TIMESTAMPTZ NOT NULL,
    cull_after        TIMESTAMPTZ,
    UNIQUE (license_id, fingerprint)
);
-- What the reaper culls.
CREATE INDEX license_activations_cull_idx ON license_activations (cull_after)
    WHERE cull_after IS NOT NULL;

CREATE TABLE license_events (
    id         UUID PRIMARY KEY,
    license_id UUID NOT NULL REFERENCES licenses (id) ON DELETE CASCADE,
    type       TEXT NOT NULL,
    at         TIMESTAMPTZ NOT NULL,
    actor      TEXT NOT NULL,
    details    TEXT NOT NULL
);
CREATE INDEX license_events_license_idx ON license_events (license_id, at, id);
