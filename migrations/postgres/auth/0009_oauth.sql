-- Sign-in through OAuth / OpenID Connect providers (issue 17, decision 0026): the identities
-- linked to accounts, the server-side state of a sign-in between `start` and `callback`
-- (single use, 10 minutes), and the single-use login codes it ends with (60 seconds). Secrets
-- sent to browsers (`state`, the login code) are kept as SHA-256 digests.

CREATE TABLE oauth_identities (
    id             UUID PRIMARY KEY,
    provider       TEXT NOT NULL,
    subject        TEXT NOT NULL,
    user_id        UUID NOT NULL REFERENCES users (id),
    email          TEXT,
    email_verified BOOLEAN NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL,
    last_used_at   TIMESTAMPTZ,
    UNIQUE (provider, subject)
);

CREATE INDEX oauth_identities_user ON oauth_identities (user_id);

CREATE TABLE oauth_flows (
    state_hash    BYTEA PRIMARY KEY,
    provider      TEXT NOT NULL,
    nonce         TEXT NOT NULL,
    pkce_verifier TEXT NOT NULL,
    redirect_uri  TEXT NOT NULL,
    -- The signed-in user linking an identity; NULL for a sign-in.
    link_user     UUID REFERENCES users (id),
    expires_at    TIMESTAMPTZ NOT NULL
);

CREATE INDEX oauth_flows_expiry ON oauth_flows (expires_at);

CREATE TABLE oauth_login_codes (
    code_hash  BYTEA PRIMARY KEY,
    user_id    UUID NOT NULL REFERENCES users (id),
    provider   TEXT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
