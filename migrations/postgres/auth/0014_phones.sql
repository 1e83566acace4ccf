-- Phone sign-in and verification by SMS code (issue 17, decision 0036): the codes' state per
-- number and purpose (optimistic version, only hashes stored, as `email_otps`) and each user's
-- verified number, a number on at most one account.

CREATE TABLE sms_codes (
    phone            TEXT NOT NULL,
    purpose          TEXT NOT NULL CHECK (purpose IN ('login', 'verify_phone')),
    code_hash        BYTEA,
    salt             BYTEA NOT NULL,
    expires_at       TIMESTAMPTZ,
    attempts         INTEGER NOT NULL,
    locked_until     TIMESTAMPTZ,
    last_sent_at     TIMESTAMPTZ,
    quota_started_at TIMESTAMPTZ,
    sent_in_window   INTEGER NOT NULL,
    version          BIGINT NOT NULL,
    PRIMARY KEY (phone, purpose)
);

-- A row is a verified number (`verified_at` is the proof); an unproven number is never stored.
CREATE TABLE user_phones (
    user_id     UUID PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    phone       TEXT NOT NULL UNIQUE,
    verified_at TIMESTAMPTZ NOT NULL
);
