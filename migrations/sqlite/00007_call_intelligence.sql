-- What the intelligence around a call keeps.
--
-- On a call: the handoff summary a human who took it over was told
-- (summary, '' for none) and its outcome prediction when it ended
-- (prediction, a JSON object {"resolution", "escalation_risk",
-- "model_version", "features"} as TEXT, NULL for none), each written once by
-- the first finish that carries it.
--
-- An organization's trained outcome prediction models, versioned 1, 2...
-- (the store keeps the newest 10), the model itself a JSON object as TEXT.

-- +goose Up
ALTER TABLE calls ADD COLUMN summary TEXT NOT NULL DEFAULT '';
ALTER TABLE calls ADD COLUMN prediction TEXT;
-- LabelledCalls: an organization's finished calls a model can learn from,
-- newest ended first. Its WHERE clause repeats this predicate.
CREATE INDEX calls_labelled ON calls (org_id, ended_at DESC, id DESC)
    WHERE prediction IS NOT NULL;

CREATE TABLE prediction_models (
    org_id         TEXT    NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    version        INTEGER NOT NULL CHECK (version > 0),
    trained_at     INTEGER NOT NULL,
    examples       INTEGER NOT NULL CHECK (examples >= 0),
    resolution_auc REAL    NOT NULL CHECK (resolution_auc BETWEEN 0 AND 1),
    escalation_auc REAL    NOT NULL CHECK (escalation_auc BETWEEN 0 AND 1),
    model          TEXT    NOT NULL,
    created_at     INTEGER NOT NULL,
    PRIMARY KEY (org_id, version)
);

-- +goose Down
DROP TABLE prediction_models;
DROP INDEX calls_labelled;
ALTER TABLE calls DROP COLUMN prediction;
ALTER TABLE calls DROP COLUMN summary;
