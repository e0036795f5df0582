-- A call's events (greeting, turns, barge-ins, DTMF digits, transfers asked
-- for, holding phrases), written once when the call ends: a JSON array of
-- {"at", "kind", "detail"} objects in time order, at most 256, NULL when
-- none were written. Only a single call's detail reads it, so it needs no
-- index, and list queries leave it out.

-- +goose Up
ALTER TABLE calls ADD COLUMN events jsonb;

-- +goose Down
ALTER TABLE calls DROP COLUMN events;
