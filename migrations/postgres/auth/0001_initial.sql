-- Auth: users, sessions, companies, memberships, roles, delegations.
-- Sessions and memberships name users without a foreign key: Auth's identity and directory
-- stores are separate traits and may be backed separately by an embedder.

CREATE TABLE users (
    id             UUID PRIMARY KEY,
    email          TEXT NOT NULL,
    name           TEXT,
    password_hash  TEXT,
    email_verified BOOLEAN NOT NULL DEFAULT FALSE,
    disabled       BOOLEAN NOT NULL DEFAULT FALSE,
    created_at     TIMESTAMPTZ NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL
);
-- Emails are stored normalized (trimmed, lowercase): uniqueness is case-insensitive.
CREATE UNIQUE INDEX users_email_key ON users (email);

CREATE TABLE sessions (
    id                  UUID PRIMARY KEY,
    user_id             UUID NOT NULL,
    created_at          TIMESTAMPTZ NOT NULL,
    last_seen_at        TIMESTAMPTZ NOT NULL,
    idle_expires_at     TIMESTAMPTZ NOT NULL,
    absolute_expires_at TIMESTAMPTZ NOT NULL,
    revoked_at          TIMESTAMPTZ,
    revoked_reason      TEXT,
    user_agent          TEXT,
    ip                  TEXT
);
CREATE INDEX sessions_user_idx ON sessions (user_id, created_at);

CREATE TABLE companies (
    id         UUID PRIMARY KEY,
    slug       TEXT NOT NULL,
    name       TEXT NOT NULL,
    status     TEXT NOT NULL CHECK (status IN ('active', 'suspended')),
    created_at TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX companies_slug_key ON companies (slug);

CREATE TABLE memberships (
    id             UUID PRIMARY KEY,
    company_id     UUID NOT NULL REFERENCES companies (id),
    user_id        UUID NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('active', 'invited', 'suspended', 'revoked')),
    roles          TEXT[] NOT NULL DEFAULT '{}',
    module_grants  TEXT[] NOT NULL DEFAULT '{}',
    access_version BIGINT NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX memberships_company_user_key ON memberships (company_id, user_id);
CREATE INDEX memberships_user_idx ON memberships (user_id, created_at);

CREATE TABLE roles (
    company_id  UUID NOT NULL REFERENCES companies (id),
    key         TEXT NOT NULL,
    name        TEXT NOT NULL,
    permissions TEXT[] NOT NULL DEFAULT '{}',
    PRIMARY KEY (company_id, key)
);

CREATE TABLE delegations (
    id                 UUID PRIMARY KEY,
    company_id         UUID NOT NULL REFERENCES companies (id),
    from_membership_id UUID NOT NULL REFERENCES memberships (id),
    to_membership_id   UUID NOT NULL REFERENCES memberships (id),
    permissions        TEXT[] NOT NULL DEFAULT '{}',
    modules            TEXT[] NOT NULL DEFAULT '{}',
    starts_at          TIMESTAMPTZ NOT NULL,
    expires_at         TIMESTAMPTZ NOT NULL,
    revoked_at         TIMESTAMPTZ,
    created_at         TIMESTAMPTZ NOT NULL
);
CREATE INDEX delegations_company_idx ON delegations (company_id, created_at);
CREATE INDEX delegations_to_idx ON delegations (to_membership_id) WHERE revoked_at IS NULL;
CREATE INDEX delegations_from_idx ON delegations (from_membership_id) WHERE revoked_at IS NULL;

-- Refresh tokens: opaque secrets stored only as SHA-256 hashes, one row per issued token,
-- looked up by hash on every refresh. The refresh-token store arrives with the identity service.
CREATE TABLE refresh_tokens (
    token_hash  BYTEA PRIMARY KEY,
    session_id  UUID NOT NULL REFERENCES sessions (id),
    created_at  TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL,
    used_at     TIMESTAMPTZ,
    replaced_by BYTEA
);
CREATE INDEX refresh_tokens_session_idx ON refresh_tokens (session_id);
