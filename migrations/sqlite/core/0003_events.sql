-- Core's ordered invalidation stream (issue 13, decision 0015), as Auth's (see Auth's
-- 0005_events.sql): every change of a company's entitlement version appends a `company` event
-- in the same transaction, numbered in commit order by the one row of `core_event_counter`.
CREATE TABLE core_event_counter (
    id    INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    seq   INTEGER NOT NULL,
    epoch TEXT NOT NULL
);
INSERT INTO core_event_counter (id, seq, epoch) VALUES (1, 0, lower(hex(randomblob(16))));

CREATE TABLE core_events (
    seq           INTEGER PRIMARY KEY NOT NULL,
    at            INTEGER NOT NULL,
    kind          TEXT NOT NULL,
    company_id    BLOB,
    membership_id BLOB,
    session_id    BLOB,
    origin        TEXT,
    origin_seq    INTEGER
);
CREATE INDEX core_events_at_idx ON core_events (at);
CREATE UNIQUE INDEX core_events_origin_key ON core_events (origin, origin_seq)
    WHERE origin IS NOT NULL;

CREATE TRIGGER company_entitlements_changed AFTER UPDATE OF entitlement_version ON company_entitlements
WHEN NEW.entitlement_version <> OLD.entitlement_version
BEGIN
    UPDATE core_event_counter SET seq = seq + 1 WHERE id = 1;
    INSERT INTO core_events (seq, at, kind, company_id)
    SELECT seq, CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER), 'company',
           NEW.company_id
    FROM core_event_counter WHERE id = 1;
END;

CREATE TRIGGER company_entitlements_created AFTER INSERT ON company_entitlements
BEGIN
    UPDATE core_event_counter SET seq = seq + 1 WHERE id = 1;
    INSERT INTO core_events (seq, at, kind, company_id)
    SELECT seq, CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER), 'company',
           NEW.company_id
    FROM core_event_counter WHERE id = 1;
END;
