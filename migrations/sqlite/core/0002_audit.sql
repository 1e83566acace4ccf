-- Core audit log: an append-only record of every catalog and company entitlement change.
-- Rows are never updated; they leave only by age. No foreign keys: records outlive what they name.
-- Ids are 16-byte BLOBs, times INTEGER microseconds since the Unix epoch, details a JSON object.

CREATE TABLE core_audit (
    id         BLOB PRIMARY KEY NOT NULL,
    at         INTEGER NOT NULL,
    actor      TEXT NOT NULL CHECK (actor <> ''),
    action     TEXT NOT NULL CHECK (action <> ''),
    company_id BLOB,
    request_id TEXT,
    detail     TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(detail) AND json_type(detail) = 'object')
);
-- A company's log, newest first.
CREATE INDEX core_audit_company_at_idx ON core_audit (company_id, at);
-- The whole log, newest first, and pruning by age.
CREATE INDEX core_audit_at_idx ON core_audit (at);
