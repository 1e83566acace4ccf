-- Second factors (issue 16, decision 0021): one TOTP enrolment per user, its secret sealed by
-- the SecretBox (AES-256-GCM envelope bound to `totp:{user_id}`), and the user's recovery codes
-- as SHA-256 digests.

CREATE TABLE mfa_totp (
    user_id        UUID PRIMARY KEY REFERENCES users (id),
    secret         BYTEA NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL,
    -- NULL while pending: a pending secret signs nobody in.
    confirmed_at   TIMESTAMPTZ,
    -- The last time step a code was accepted for; a step at or before it is refused (replay).
    last_used_step BIGINT
);

CREATE TABLE mfa_recovery_codes (
    user_id    UUID NOT NULL REFERENCES users (id),
    code_hash  BYTEA NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    used_at    TIMESTAMPTZ,
    PRIMARY KEY (user_id, code_hash)
);
