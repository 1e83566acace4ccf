-- Core audit log: an append-only record of every catalog and company entitlement change.
-- Rows are never updated; they leave only by age. No foreign keys: records outlive what they name.

CREATE TABLE core_audit (
    id         UUID PRIMARY KEY,
    at         TIMESTAMPTZ NOT NULL,
    actor      TEXT NOT NULL CHECK (actor <> ''),
    action     TEXT NOT NULL CHECK (action <> ''),
    company_id UUID,
    request_id TEXT,
    detail     JSONB NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(detail) = 'object')
);
-- A company's log, newest first.
CREATE INDEX core_audit_company_at_idx ON core_audit (company_id, at);
-- The whole log, newest first, and pruning by age.
CREATE INDEX core_audit_at_idx ON core_audit (at);
