-- Core: the commercial catalog and company entitlements.

CREATE TABLE modules (
    key         TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('core', 'addon', 'standard')),
    permissions TEXT[] NOT NULL DEFAULT '{}'
);

CREATE TABLE packages (
    key      TEXT PRIMARY KEY,
    name     TEXT NOT NULL,
    is_basic BOOLEAN NOT NULL,
    modules  TEXT[] NOT NULL DEFAULT '{}'
);

CREATE TABLE addons (
    key    TEXT PRIMARY KEY,
    name   TEXT NOT NULL,
    module TEXT NOT NULL
);

-- One row per company ever written; the row is also the lock every entitlement write takes.
CREATE TABLE company_entitlements (
    company_id          UUID PRIMARY KEY,
    entitlement_version BIGINT NOT NULL CHECK (entitlement_version > 0)
);

CREATE TABLE subscriptions (
    company_id         UUID PRIMARY KEY REFERENCES company_entitlements (company_id),
    package            TEXT NOT NULL,
    status             TEXT NOT NULL CHECK (status IN ('trialing', 'active', 'past_due', 'canceled', 'expired')),
    current_period_end TIMESTAMPTZ,
    grace_until        TIMESTAMPTZ
);
CREATE INDEX subscriptions_package_idx ON subscriptions (package);

CREATE TABLE company_addons (
    company_id         UUID NOT NULL REFERENCES company_entitlements (company_id),
    addon              TEXT NOT NULL,
    status             TEXT NOT NULL CHECK (status IN ('trialing', 'active', 'past_due', 'canceled', 'expired')),
    current_period_end TIMESTAMPTZ,
    PRIMARY KEY (company_id, addon)
);
CREATE INDEX company_addons_addon_idx ON company_addons (addon);
