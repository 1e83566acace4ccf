-- The refresh grace window hands the immediate predecessor of the live token that same live
-- token again (racing browser tabs), a bounded number of times. The live token is kept sealed
-- for its predecessor's holder: its 32 bytes XOR SHA-256 of the predecessor token, which only
-- that holder knows (the database keeps hashes only). Never a new chain.
ALTER TABLE refresh_tokens ADD COLUMN sealed BLOB;
ALTER TABLE refresh_tokens ADD COLUMN grace_uses INTEGER NOT NULL DEFAULT 0;
