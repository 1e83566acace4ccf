-- Passkeys (issue 16, decision 0025): each registered WebAuthn credential, and the ceremonies
-- under way (their webauthn-rs state, so any replica finishes a ceremony another began).

CREATE TABLE passkeys (
    id              UUID PRIMARY KEY,
    user_id         UUID NOT NULL REFERENCES users (id),
    name            TEXT NOT NULL,
    -- The authenticator's credential id: one registration per authenticator credential.
    credential_id   BYTEA NOT NULL UNIQUE,
    -- The serialized webauthn-rs `Passkey` (public key, counter, flags; no secret).
    passkey         TEXT NOT NULL,
    -- The signature counter after the last accepted use (0: the authenticator keeps none).
    sign_count      BIGINT NOT NULL,
    backup_eligible BOOLEAN NOT NULL,
    backup_state    BOOLEAN NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    last_used_at    TIMESTAMPTZ
);

CREATE INDEX passkeys_by_user ON passkeys (user_id, created_at);

CREATE TABLE passkey_ceremonies (
    -- 256 random bits, base64url: the handle the client finishes with.
    id         TEXT PRIMARY KEY,
    -- `register` or `login`.
    kind       TEXT NOT NULL,
    -- The user registering; NULL for a sign-in.
    user_id    UUID REFERENCES users (id),
    -- The serialized webauthn-rs ceremony state (the challenge).
    state      TEXT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);

CREATE INDEX passkey_ceremonies_by_expiry ON passkey_ceremonies (expires_at);
