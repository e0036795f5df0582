-- Two defences against abuse by an organization's own admins.
--
-- Toll fraud: an organization's transfer allow-list, the E.164 prefixes
-- ("+1", "+4420") its calls may be transferred to; empty means the default
-- (see store.TransferPolicy). Premium-rate ranges are refused in code
-- whatever the list says.
--
-- Number squatting: a number is allotted to an organization by an operator
-- before the organization may route it. A route (numbers) must name an
-- allotment of its own organization; releasing the allotment drops the
-- route. The numbers routed today are allotted to their organizations, so
-- nothing stops answering.

-- +goose Up
ALTER TABLE organizations ADD COLUMN transfer_allow text[] NOT NULL DEFAULT '{}';

CREATE TABLE number_allotments (
    e164   text COLLATE "C" PRIMARY KEY CHECK (e164 <> ''),
    org_id text COLLATE "C" NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    UNIQUE (e164, org_id)
);
CREATE INDEX number_allotments_org ON number_allotments (org_id, e164);

INSERT INTO number_allotments (e164, org_id) SELECT e164, org_id FROM numbers;

ALTER TABLE numbers ADD CONSTRAINT numbers_allotted
    FOREIGN KEY (e164, org_id) REFERENCES number_allotments (e164, org_id) ON DELETE CASCADE;

-- +goose Down
ALTER TABLE numbers DROP CONSTRAINT numbers_allotted;
DROP TABLE number_allotments;
ALTER TABLE organizations DROP COLUMN transfer_allow;
