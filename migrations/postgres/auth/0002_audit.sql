-- Audit events: an append-only record of who did what, in which company, with what outcome.
-- Rows are never updated; they leave only by age (`kisum audit prune --older-than`).
-- No foreign keys: a failed sign-in names no user, and events outlive the rows they name.

CREATE TABLE audit_events (
    id            UUID PRIMARY KEY,
    at            TIMESTAMPTZ NOT NULL,
    actor_user_id UUID,
    company_id    UUID,
    action        TEXT NOT NULL,
    outcome       TEXT NOT NULL CHECK (outcome IN ('success', 'failure', 'denied')),
    ip            TEXT,
    request_id    TEXT,
    details       JSONB NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(details) = 'object')
);
-- A company's log, newest first.
CREATE INDEX audit_events_company_at_idx ON audit_events (company_id, at);
-- The whole log, newest first, and pruning by age.
CREATE INDEX audit_events_at_idx ON audit_events (at);
