-- Stronger sign-in (issue 16, decision 0022): how each session was signed in, and the pending
-- second-factor challenges of `POST /v1/auth/mfa/verify`. Times are INTEGER microseconds.

-- `aal1` or `aal2`; RFC 8176 method references as a JSON array; when the user last proved who
-- they are. Sessions started before this migration were one-factor sessions that proved it at
-- their start.
ALTER TABLE sessions ADD COLUMN aal TEXT NOT NULL DEFAULT 'aal1';
ALTER TABLE sessions ADD COLUMN amr TEXT NOT NULL DEFAULT '[]';
ALTER TABLE sessions ADD COLUMN auth_time INTEGER NOT NULL DEFAULT 0;
UPDATE sessions SET auth_time = created_at;

-- A first factor passed, the second is awaited: the SHA-256 of the opaque `mfa_token`, whose
-- user it is, how the first factor was shown (`pwd`, `otp`), and its attempts (limits as email
-- codes). Single use: `used_at` is set by the verification that passes.
CREATE TABLE mfa_challenges (
    token_hash   BLOB PRIMARY KEY NOT NULL,
    user_id      BLOB NOT NULL REFERENCES users (id),
    first_factor TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    -- When the last allowed attempt was taken: the user's sign-ins then wait for the lockout.
    locked_at    INTEGER,
    used_at      INTEGER
);
CREATE INDEX mfa_challenges_user_idx ON mfa_challenges (user_id, locked_at);
