-- The catalog's version (issue 14, decision 0024): one row, raised by every catalog edit in the
-- edit's own transaction, so every Core process can keep the catalog in memory and check with
-- one read that it is still current.
CREATE TABLE catalog_version (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL CHECK (version >= 0)
);
INSERT INTO catalog_version (id, version) VALUES (1, 0);
