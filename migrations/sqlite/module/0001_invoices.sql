-- The reference business backend (`kisum module`): invoices, one table per deployment.
-- Ids are 16-byte BLOBs, times INTEGER microseconds since the Unix epoch (UTC).
CREATE TABLE module_invoices (
    id           BLOB PRIMARY KEY NOT NULL,
    company_id   BLOB NOT NULL,
    number       INTEGER NOT NULL,
    customer     TEXT NOT NULL,
    amount_cents INTEGER NOT NULL,
    currency     TEXT NOT NULL,
    created_by   BLOB NOT NULL,
    created_at   INTEGER NOT NULL,
    UNIQUE (company_id, number)
);
