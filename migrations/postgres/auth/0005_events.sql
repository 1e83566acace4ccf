-- The ordered invalidation stream (issue 13, decision 0015): every change that can alter access
-- appends its event to `auth_events` in the transaction of the change, by trigger, so no write
-- path can forget it. Numbers come from the one row of `auth_event_counter`: the UPDATE locks
-- that row until commit, so numbers are taken in commit order and are contiguous — a reader that
-- has applied N has seen every event up to N, and a hole means events were pruned (a gap).
-- `epoch` names this stream: a restored or recreated database gets a new one, and readers that
-- see it change start over.
CREATE TABLE auth_event_counter (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    seq   BIGINT NOT NULL,
    epoch TEXT NOT NULL
);
INSERT INTO auth_event_counter (id, seq, epoch)
VALUES (1, 0, md5(random()::text || clock_timestamp()::text));

CREATE TABLE auth_events (
    seq           BIGINT PRIMARY KEY,
    at            TIMESTAMPTZ NOT NULL,
    kind          TEXT NOT NULL,
    company_id    UUID,
    membership_id UUID,
    session_id    UUID,
    origin        TEXT,
    origin_seq    BIGINT
);
CREATE INDEX auth_events_at_idx ON auth_events (at);
CREATE UNIQUE INDEX auth_events_origin_key ON auth_events (origin, origin_seq)
    WHERE origin IS NOT NULL;

CREATE FUNCTION kisum_auth_append_event(p_kind TEXT, p_company UUID, p_membership UUID, p_session UUID)
RETURNS BIGINT AS $$
DECLARE
    s BIGINT;
BEGIN
    UPDATE auth_event_counter SET seq = seq + 1 WHERE id = 1 RETURNING seq INTO s;
    INSERT INTO auth_events (seq, at, kind, company_id, membership_id, session_id)
    VALUES (s, clock_timestamp(), p_kind, p_company, p_membership, p_session);
    RETURN s;
END
$$ LANGUAGE plpgsql;

CREATE FUNCTION kisum_auth_membership_event() RETURNS trigger AS $$
BEGIN
    PERFORM kisum_auth_append_event('membership', NEW.company_id, NEW.id, NULL);
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER memberships_access_event AFTER UPDATE OF access_version ON memberships
FOR EACH ROW WHEN (NEW.access_version <> OLD.access_version)
EXECUTE FUNCTION kisum_auth_membership_event();

CREATE FUNCTION kisum_auth_session_event() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        -- A live session deleted (pruning removes only expired or long-revoked ones).
        IF OLD.revoked_at IS NULL AND OLD.idle_expires_at > now() AND OLD.absolute_expires_at > now() THEN
            PERFORM kisum_auth_append_event('session_revoked', NULL, NULL, OLD.id);
        END IF;
    ELSE
        PERFORM kisum_auth_append_event('session_revoked', NULL, NULL, NEW.id);
    END IF;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER sessions_revoked_event AFTER UPDATE OF revoked_at ON sessions
FOR EACH ROW WHEN (OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL)
EXECUTE FUNCTION kisum_auth_session_event();

CREATE TRIGGER sessions_deleted_event AFTER DELETE ON sessions
FOR EACH ROW EXECUTE FUNCTION kisum_auth_session_event();
