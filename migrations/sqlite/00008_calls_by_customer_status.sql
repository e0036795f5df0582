-- The caller's latest ended calls, read at the start of every call
-- (ListCalls filtered by customer and status). Without statistics SQLite
-- chose calls_status, (org_id, status, ...), and walked every ended call of
-- the organization to find the few of one customer: a new caller cost a
-- scan of the whole history. With both equalities in one index it reads
-- just those rows.

-- +goose Up
CREATE INDEX calls_customer_status ON calls (org_id, customer_id, status, started_at DESC, id DESC)
    WHERE customer_id IS NOT NULL;

-- +goose Down
DROP INDEX calls_customer_status;
