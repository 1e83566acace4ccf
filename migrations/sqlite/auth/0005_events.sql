-- The ordered invalidation stream (issue 13, decision 0015): every change that can alter access
-- appends its event to `auth_events` in the transaction of the change, by trigger, so no write
-- path can forget it. Numbers come from the one row of `auth_event_counter`: the UPDATE holds
-- that row until commit, so numbers are taken in commit order and are contiguous — a reader that
-- has applied N has seen every event up to N, and a hole means events were pruned (a gap).
-- `epoch` names this stream: a restored or recreated database gets a new one, and readers that
-- see it change start over.
CREATE TABLE auth_event_counter (
    id    INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    seq   INTEGER NOT NULL,
    epoch TEXT NOT NULL
);
INSERT INTO auth_event_counter (id, seq, epoch) VALUES (1, 0, lower(hex(randomblob(16))));

CREATE TABLE auth_events (
    seq           INTEGER PRIMARY KEY NOT NULL,
    at            INTEGER NOT NULL,
    kind          TEXT NOT NULL,
    company_id    BLOB,
    membership_id BLOB,
    session_id    BLOB,
    origin        TEXT,
    origin_seq    INTEGER
);
CREATE INDEX auth_events_at_idx ON auth_events (at);
CREATE UNIQUE INDEX auth_events_origin_key ON auth_events (origin, origin_seq)
    WHERE origin IS NOT NULL;

CREATE TRIGGER memberships_access_event AFTER UPDATE OF access_version ON memberships
WHEN NEW.access_version <> OLD.access_version
BEGIN
    UPDATE auth_event_counter SET seq = seq + 1 WHERE id = 1;
    INSERT INTO auth_events (seq, at, kind, company_id, membership_id)
    SELECT seq, CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER), 'membership',
           NEW.company_id, NEW.id
    FROM auth_event_counter WHERE id = 1;
END;

CREATE TRIGGER sessions_revoked_event AFTER UPDATE OF revoked_at ON sessions
WHEN OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL
BEGIN
    UPDATE auth_event_counter SET seq = seq + 1 WHERE id = 1;
    INSERT INTO auth_events (seq, at, kind, session_id)
    SELECT seq, CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER), 'session_revoked',
           NEW.id
    FROM auth_event_counter WHERE id = 1;
END;

-- A live session deleted (not pruned: pruning removes only expired or long-revoked ones) is a
-- revocation too.
CREATE TRIGGER sessions_deleted_event AFTER DELETE ON sessions
WHEN OLD.revoked_at IS NULL
 AND OLD.idle_expires_at > CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER)
 AND OLD.absolute_expires_at > CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER)
BEGIN
    UPDATE auth_event_counter SET seq = seq + 1 WHERE id = 1;
    INSERT INTO auth_events (seq, at, kind, session_id)
    SELECT seq, CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER), 'session_revoked',
           OLD.id
    FROM auth_event_counter WHERE id = 1;
END;
