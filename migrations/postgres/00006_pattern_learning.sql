-- What learning from finished calls keeps on a pattern: whether calls use
-- it (status: active, pending approval, or disabled by someone), where it
-- came from (source: written by someone, or learned), callers' own
-- phrasings of it (examples, at most 5, newest kept) and the calls it was
-- learned from (source_call_ids, the last 20). The patterns there before
-- were written by someone, and active.

-- +goose Up
ALTER TABLE patterns
    ADD COLUMN status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'pending', 'disabled')),
    ADD COLUMN source text NOT NULL DEFAULT 'manual' CHECK (source IN ('manual', 'learned')),
    ADD COLUMN examples text[] NOT NULL DEFAULT '{}',
    ADD COLUMN source_call_ids text[] NOT NULL DEFAULT '{}';
-- Listing one status (the patterns awaiting approval) newest first.
CREATE INDEX patterns_status ON patterns (org_id, status, created_at DESC, id DESC);

-- +goose Down
DROP INDEX patterns_status;
ALTER TABLE patterns
    DROP COLUMN source_call_ids,
    DROP COLUMN examples,
    DROP COLUMN source,
    DROP COLUMN status;
