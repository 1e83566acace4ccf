-- Licences (issue 15, decision 0018): a company's licence key (stored only as its SHA-256
-- hash), seat limit, floating heartbeat interval (seconds, 0 = none), expiry and module
-- restrictions (a JSON array of module keys, NULL = none); one row per activation (licence x
-- fingerprint); and the append-only lifecycle events. Every activation runs in a
-- `BEGIN IMMEDIATE` transaction (the database's write lock) before counting the seats in use.
-- Ids are 16-byte BLOBs, times INTEGER microseconds since the Unix epoch.
CREATE TABLE licenses (
    id                 BLOB PRIMARY KEY NOT NULL,
    company_id         BLOB NOT NULL,
    name               TEXT NOT NULL,
    key_hash           BLOB NOT NULL UNIQUE,
    max_activations    INTEGER NOT NULL CHECK (max_activations > 0),
    floating           INTEGER NOT NULL,
    heartbeat_interval INTEGER NOT NULL DEFAULT 0 CHECK (heartbeat_interval >= 0),
    expires_at         INTEGER,
    modules            TEXT,
    status             TEXT NOT NULL CHECK (status IN ('active', 'suspended', 'expired', 'revoked')),
    version            INTEGER NOT NULL CHECK (version > 0),
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL
);
CREATE INDEX licenses_company_idx ON licenses (company_id, created_at);
CREATE INDEX licenses_expiry_idx ON licenses (expires_at)
    WHERE status IN ('active', 'suspended') AND expires_at IS NOT NULL;

CREATE TABLE license_activations (
    id                BLOB PRIMARY KEY NOT NULL,
    license_id        BLOB NOT NULL REFERENCES licenses (id) ON DELETE CASCADE,
    fingerprint       TEXT NOT NULL,
    name              TEXT,
    created_at        INTEGER NOT NULL,
    last_heartbeat_at INTEGER NOT NULL,
    cull_after        INTEGER,
    UNIQUE (license_id, fingerprint)
);
CREATE INDEX license_activations_cull_idx ON license_activations (cull_after)
    WHERE cull_after IS NOT NULL;

CREATE TABLE license_events (
    id         BLOB PRIMARY KEY NOT NULL,
    license_id BLOB NOT NULL REFERENCES licenses (id) ON DELETE CASCADE,
    type       TEXT NOT NULL,
    at         INTEGER NOT NULL,
    actor      TEXT NOT NULL,
    details    TEXT NOT NULL
);
CREATE INDEX license_events_license_idx ON license_events (license_id, at, id);
