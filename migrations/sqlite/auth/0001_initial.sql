-- Auth: users, sessions, companies, memberships, roles, delegations.
-- Ids are 16-byte BLOBs, times INTEGER microseconds since the Unix epoch (UTC), lists JSON arrays.

CREATE TABLE users (
    id             BLOB PRIMARY KEY NOT NULL,
    email          TEXT NOT NULL,
    name           TEXT,
    password_hash  TEXT,
    email_verified INTEGER NOT NULL DEFAULT 0,
    disabled       INTEGER NOT NULL DEFAULT 0,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
);
CREATE UNIQUE INDEX users_email_key ON users (email);

CREATE TABLE sessions (
    id                  BLOB PRIMARY KEY NOT NULL,
    user_id             BLOB NOT NULL,
    created_at          INTEGER NOT NULL,
    last_seen_at        INTEGER NOT NULL,
    idle_expires_at     INTEGER NOT NULL,
    absolute_expires_at INTEGER NOT NULL,
    revoked_at          INTEGER,
    revoked_reason      TEXT,
    user_agent          TEXT,
    ip                  TEXT
);
CREATE INDEX sessions_user_idx ON sessions (user_id, created_at);

CREATE TABLE companies (
    id         BLOB PRIMARY KEY NOT NULL,
    slug       TEXT NOT NULL,
    name       TEXT NOT NULL,
    status     TEXT NOT NULL CHECK (status IN ('active', 'suspended')),
    created_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX companies_slug_key ON companies (slug);

CREATE TABLE memberships (
    id             BLOB PRIMARY KEY NOT NULL,
    company_id     BLOB NOT NULL REFERENCES companies (id),
    user_id        BLOB NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('active', 'invited', 'suspended', 'revoked')),
    roles          TEXT NOT NULL DEFAULT '[]',
    module_grants  TEXT NOT NULL DEFAULT '[]',
    access_version INTEGER NOT NULL,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
);
CREATE UNIQUE INDEX memberships_company_user_key ON memberships (company_id, user_id);
CREATE INDEX memberships_user_idx ON memberships (user_id, created_at);

CREATE TABLE roles (
    company_id  BLOB NOT NULL REFERENCES companies (id),
    key         TEXT NOT NULL,
    name        TEXT NOT NULL,
    permissions TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (company_id, key)
);

CREATE TABLE delegations (
    id                 BLOB PRIMARY KEY NOT NULL,
    company_id         BLOB NOT NULL REFERENCES companies (id),
    from_membership_id BLOB NOT NULL REFERENCES memberships (id),
    to_membership_id   BLOB NOT NULL REFERENCES memberships (id),
    permissions        TEXT NOT NULL DEFAULT '[]',
    modules            TEXT NOT NULL DEFAULT '[]',
    starts_at          INTEGER NOT NULL,
    expires_at         INTEGER NOT NULL,
    revoked_at         INTEGER,
    created_at         INTEGER NOT NULL
);
CREATE INDEX delegations_company_idx ON delegations (company_id, created_at);
CREATE INDEX delegations_to_idx ON delegations (to_membership_id) WHERE revoked_at IS NULL;
CREATE INDEX delegations_from_idx ON delegations (from_membership_id) WHERE revoked_at IS NULL;

-- Refresh tokens: opaque secrets stored only as SHA-256 hashes, one row per issued token,
-- looked up by hash on every refresh. The refresh-token store arrives with the identity service.
CREATE TABLE refresh_tokens (
    token_hash  BLOB PRIMARY KEY NOT NULL,
    session_id  BLOB NOT NULL REFERENCES sessions (id),
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER,
    replaced_by BLOB
);
CREATE INDEX refresh_tokens_session_idx ON refresh_tokens (session_id);
