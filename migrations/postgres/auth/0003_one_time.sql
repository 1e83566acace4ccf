-- One-time secrets: email codes (per email and purpose, optimistic version) and password-reset
-- tokens. Only hashes are stored.

CREATE TABLE email_otps (
    email            TEXT NOT NULL,
    purpose          TEXT NOT NULL CHECK (purpose IN ('login', 'verify_email')),
    code_hash        BYTEA,
    salt             BYTEA NOT NULL,
    expires_at       TIMESTAMPTZ,
    attempts         INTEGER NOT NULL,
    locked_until     TIMESTAMPTZ,
    last_sent_at     TIMESTAMPTZ,
    quota_started_at TIMESTAMPTZ,
    sent_in_window   INTEGER NOT NULL,
    version          BIGINT NOT NULL,
    PRIMARY KEY (email, purpose)
);

CREATE TABLE password_resets (
    token_hash BYTEA PRIMARY KEY,
    user_id    UUID NOT NULL REFERENCES users (id),
    expires_at TIMESTAMPTZ NOT NULL,
    used_at    TIMESTAMPTZ
);
CREATE INDEX password_resets_user_idx ON password_resets (user_id);
