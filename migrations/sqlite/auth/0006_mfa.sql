-- Second factors (issue 16, decision 0021): one TOTP enrolment per user, its secret sealed by
-- the SecretBox (AES-256-GCM envelope bound to `totp:{user_id}`), and the user's recovery codes
-- as SHA-256 digests. Times are INTEGER microseconds since the Unix epoch.

CREATE TABLE mfa_totp (
    user_id        BLOB PRIMARY KEY NOT NULL REFERENCES users (id),
    secret         BLOB NOT NULL,
    created_at     INTEGER NOT NULL,
    -- NULL while pending: a pending secret signs nobody in.
    confirmed_at   INTEGER,
    -- The last time step a code was accepted for; a step at or before it is refused (replay).
    last_used_step INTEGER
);

CREATE TABLE mfa_recovery_codes (
    user_id    BLOB NOT NULL REFERENCES users (id),
    code_hash  BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    used_at    INTEGER,
    PRIMARY KEY (user_id, code_hash)
);
