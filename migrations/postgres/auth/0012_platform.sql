-- Platform administration (issue 18, decision 0033): platform roles, held by users outside any
-- company; and the audit log searchable by actor.
CREATE TABLE platform_roles (
    user_id    UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role       TEXT NOT NULL
               CHECK (role IN ('platform-admin', 'platform-support', 'platform-billing', 'platform-catalog')),
    granted_by UUID,
    granted_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (user_id, role)
);

CREATE INDEX audit_events_actor_idx ON audit_events (actor_user_id, at);
