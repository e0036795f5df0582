-- What learning from finished calls keeps on a pattern: whether calls use
-- it (status: active, pending approval, or disabled by someone), where it
-- came from (source: written by someone, or learned), callers' own
-- phrasings of it (examples, a JSON array of at most 5 strings, newest
-- kept) and the calls it was learned from (source_call_ids, a JSON array of
-- the last 20). The patterns there before were written by someone, and
-- active.

-- +goose Up
ALTER TABLE patterns ADD COLUMN status TEXT NOT NULL DEFAULT 'active'
    CHECK (status IN ('active', 'pending', 'disabled'));
ALTER TABLE patterns ADD COLUMN source TEXT NOT NULL DEFAULT 'manual'
    CHECK (source IN ('manual', 'learned'));
ALTER TABLE patterns ADD COLUMN examples TEXT NOT NULL DEFAULT '[]';
ALTER TABLE patterns ADD COLUMN source_call_ids TEXT NOT NULL DEFAULT '[]';
-- Listing one status (the patterns awaiting approval) newest first.
CREATE INDEX patterns_status ON patterns (org_id, status, created_at DESC, id DESC);

-- +goose Down
DROP INDEX patterns_status;
ALTER TABLE patterns DROP COLUMN source_call_ids;
ALTER TABLE patterns DROP COLUMN examples;
ALTER TABLE patterns DROP COLUMN source;
ALTER TABLE patterns DROP COLUMN status;
