-- The reference business backend (`kisum module`): invoices, one table per deployment.
CREATE TABLE module_invoices (
    id           UUID PRIMARY KEY,
    company_id   UUID NOT NULL,
    number       BIGINT NOT NULL,
    customer     TEXT NOT NULL,
    amount_cents BIGINT NOT NULL,
    currency     TEXT NOT NULL,
    created_by   UUID NOT NULL,
    created_at   BIGINT NOT NULL,
    UNIQUE (company_id, number)
);
