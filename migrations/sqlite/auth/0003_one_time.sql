-- One-time secrets: email codes (per email and purpose, optimistic version) and password-reset
-- tokens. Only hashes are stored. Times are INTEGER microseconds since the Unix epoch.

CREATE TABLE email_otps (
    email            TEXT NOT NULL,
    purpose          TEXT NOT NULL CHECK (purpose IN ('login', 'verify_email')),
    code_hash        BLOB,
    salt             BLOB NOT NULL,
    expires_at       INTEGER,
    attempts         INTEGER NOT NULL,
    locked_until     INTEGER,
    last_sent_at     INTEGER,
    quota_started_at INTEGER,
    sent_in_window   INTEGER NOT NULL,
    version          INTEGER NOT NULL,
    PRIMARY KEY (email, purpose)
);

CREATE TABLE password_resets (
    token_hash BLOB PRIMARY KEY NOT NULL,
    user_id    BLOB NOT NULL REFERENCES users (id),
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
);
CREATE INDEX password_resets_user_idx ON password_resets (user_id);
