-- Phone sign-in and verification by SMS code (issue 17, decision 0036): the codes' state per
-- number and purpose (optimistic version, only hashes stored, as `email_otps`) and each user's
-- verified number, a number on at most one account. Times are INTEGER microseconds since the
-- Unix epoch.

CREATE TABLE sms_codes (
    phone            TEXT NOT NULL,
    purpose          TEXT NOT NULL CHECK (purpose IN ('login', 'verify_phone')),
    code_hash        BLOB,
    salt             BLOB NOT NULL,
    expires_at       INTEGER,
    attempts         INTEGER NOT NULL,
    locked_until     INTEGER,
    last_sent_at     INTEGER,
    quota_started_at INTEGER,
    sent_in_window   INTEGER NOT NULL,
    version          INTEGER NOT NULL,
    PRIMARY KEY (phone, purpose)
);

-- A row is a verified number (`verified_at` is the proof); an unproven number is never stored.
CREATE TABLE user_phones (
    user_id     BLOB PRIMARY KEY NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    phone       TEXT NOT NULL UNIQUE,
    verified_at INTEGER NOT NULL
);
