-- Passkeys (issue 16, decision 0025): each registered WebAuthn credential, and the ceremonies
-- under way (their webauthn-rs state, so any replica finishes a ceremony another began).
-- Times are INTEGER microseconds since the Unix epoch.

CREATE TABLE passkeys (
    id              BLOB PRIMARY KEY NOT NULL,
    user_id         BLOB NOT NULL REFERENCES users (id),
    name            TEXT NOT NULL,
    -- The authenticator's credential id: one registration per authenticator credential.
    credential_id   BLOB NOT NULL UNIQUE,
    -- The serialized webauthn-rs `Passkey` (public key, counter, flags; no secret).
    passkey         TEXT NOT NULL,
    -- The signature counter after the last accepted use (0: the authenticator keeps none).
    sign_count      INTEGER NOT NULL,
    backup_eligible INTEGER NOT NULL,
    backup_state    INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    last_used_at    INTEGER
);

CREATE INDEX passkeys_by_user ON passkeys (user_id, created_at);

CREATE TABLE passkey_ceremonies (
    -- 256 random bits, base64url: the handle the client finishes with.
    id         TEXT PRIMARY KEY NOT NULL,
    -- `register` or `login`.
    kind       TEXT NOT NULL,
    -- The user registering; NULL for a sign-in.
    user_id    BLOB REFERENCES users (id),
    -- The serialized webauthn-rs ceremony state (the challenge).
    state      TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);

CREATE INDEX passkey_ceremonies_by_expiry ON passkey_ceremonies (expires_at);
