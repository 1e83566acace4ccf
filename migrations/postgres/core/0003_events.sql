-- Core's ordered invalidation stream (issue 13, decision 0015), as Auth's (see Auth's
-- 0005_events.sql): every change of a company's entitlement version appends a `company` event
-- in the same transaction, numbered in commit order by the one row of `core_event_counter`.
CREATE TABLE core_event_counter (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    seq   BIGINT NOT NULL,
    epoch TEXT NOT NULL
);
INSERT INTO core_event_counter (id, seq, epoch)
VALUES (1, 0, md5(random()::text || clock_timestamp()::text));

CREATE TABLE core_events (
    seq           BIGINT PRIMARY KEY,
    at            TIMESTAMPTZ NOT NULL,
    kind          TEXT NOT NULL,
    company_id    UUID,
    membership_id UUID,
    session_id    UUID,
    origin        TEXT,
    origin_seq    BIGINT
);
CREATE INDEX core_events_at_idx ON core_events (at);
CREATE UNIQUE INDEX core_events_origin_key ON core_events (origin, origin_seq)
    WHERE origin IS NOT NULL;

CREATE FUNCTION kisum_core_company_event() RETURNS trigger AS $$
DECLARE
    s BIGINT;
BEGIN
    IF TG_OP = 'INSERT' OR NEW.entitlement_version <> OLD.entitlement_version THEN
        UPDATE core_event_counter SET seq = seq + 1 WHERE id = 1 RETURNING seq INTO s;
        INSERT INTO core_events (seq, at, kind, company_id)
        VALUES (s, clock_timestamp(), 'company', NEW.company_id);
    END IF;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER company_entitlements_changed AFTER INSERT OR UPDATE OF entitlement_version
ON company_entitlements FOR EACH ROW EXECUTE FUNCTION kisum_core_company_event();
