-- A call's media stream is admitted once: the nonce of the stream token
-- that opened it, '' until a stream has. A second stream with any token
-- for the call (a leaked or replayed one) finds it set and is refused.

-- +goose Up
ALTER TABLE calls ADD COLUMN stream_nonce TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE calls DROP COLUMN stream_nonce;
