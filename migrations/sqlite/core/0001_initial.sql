-- Core: the commercial catalog and company entitlements.
-- Ids are 16-byte BLOBs, times INTEGER microseconds since the Unix epoch (UTC), lists JSON arrays.

CREATE TABLE modules (
    key         TEXT PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('core', 'addon', 'standard')),
    permissions TEXT NOT NULL DEFAULT '[]'
);

CREATE TABLE packages (
    key      TEXT PRIMARY KEY NOT NULL,
    name     TEXT NOT NULL,
    is_basic INTEGER NOT NULL,
    modules  TEXT NOT NULL DEFAULT '[]'
);

CREATE TABLE addons (
    key    TEXT PRIMARY KEY NOT NULL,
    name   TEXT NOT NULL,
    module TEXT NOT NULL
);

CREATE TABLE company_entitlements (
    company_id          BLOB PRIMARY KEY NOT NULL,
    entitlement_version INTEGER NOT NULL CHECK (entitlement_version > 0)
);

CREATE TABLE subscriptions (
    company_id         BLOB PRIMARY KEY NOT NULL REFERENCES company_entitlements (company_id),
    package            TEXT NOT NULL,
    status             TEXT NOT NULL CHECK (status IN ('trialing', 'active', 'past_due', 'canceled', 'expired')),
    current_period_end INTEGER,
    grace_until        INTEGER
);
CREATE INDEX subscriptions_package_idx ON subscriptions (package);

CREATE TABLE company_addons (
    company_id         BLOB NOT NULL REFERENCES company_entitlements (company_id),
    addon              TEXT NOT NULL,
    status             TEXT NOT NULL CHECK (status IN ('trialing', 'active', 'past_due', 'canceled', 'expired')),
    current_period_end INTEGER,
    PRIMARY KEY (company_id, addon)
);
CREATE INDEX company_addons_addon_idx ON company_addons (addon);
