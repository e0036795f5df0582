-- The caller's latest ended calls, read at the start of every call
-- (ListCalls filtered by customer and status), from one index with both
-- equalities, as in the embedded store (where the planner otherwise walked
-- every ended call of the organization).

-- +goose Up
CREATE INDEX calls_customer_status ON calls (org_id, customer_id, status, started_at DESC, id DESC)
    WHERE customer_id IS NOT NULL;

-- +goose Down
DROP INDEX calls_customer_status;
