-- What a caller must answer to be taken for a customer (a PIN, a date of
-- birth, a one-time code), by name: a JSON object of argon2id hashes in the
-- PHC string format, never the answers. '{}' when none is set.

-- +goose Up
ALTER TABLE customers ADD COLUMN verifiers TEXT NOT NULL DEFAULT '{}';

-- +goose Down
ALTER TABLE customers DROP COLUMN verifiers;
