-- Billing webhooks (issue 18, decision 0027): every Stripe event received, once (its id is the
-- key, inserted in the transaction of its effect, so a replay applies nothing twice), and, per
-- Stripe subscription, the company it belongs to, the event it was last written from (`created`
-- in Unix seconds and the rank of its type, so an older event never overwrites a newer state)
-- and the package and add-ons it set (so a later event can cancel what it no longer carries).
CREATE TABLE billing_events (
    event_id        TEXT PRIMARY KEY,
    type            TEXT NOT NULL,
    created         BIGINT NOT NULL,
    received_at     TIMESTAMPTZ NOT NULL,
    outcome         TEXT NOT NULL CHECK (outcome IN ('applied', 'stale', 'ignored', 'recorded')),
    company_id      UUID,
    subscription_id TEXT,
    reason          TEXT
);
CREATE INDEX billing_events_received_idx ON billing_events (received_at);

CREATE TABLE billing_subscriptions (
    subscription_id TEXT PRIMARY KEY,
    company_id      UUID NOT NULL,
    last_created    BIGINT NOT NULL,
    last_rank       INTEGER NOT NULL,
    package         TEXT,
    addons          TEXT[] NOT NULL DEFAULT '{}'
);
CREATE INDEX billing_subscriptions_company_idx ON billing_subscriptions (company_id);
