-- Two defences against abuse by an organization's own admins.
--
-- Toll fraud: an organization's transfer allow-list, the E.164 prefixes
-- ("+1", "+4420") its calls may be transferred to, a JSON array of strings;
-- empty means the default (see store.TransferPolicy). Premium-rate ranges
-- are refused in code whatever the list says.
--
-- Number squatting: a number is allotted to an organization by an operator
-- before the organization may route it. A route (numbers) must name an
-- allotment of its own organization; releasing the allotment drops the
-- route. The numbers routed today are allotted to their organizations, so
-- nothing stops answering. SQLite cannot add a foreign key to a table, so
-- numbers is rebuilt with it.

-- +goose Up
ALTER TABLE orgs ADD COLUMN transfer_allow TEXT NOT NULL DEFAULT '[]';

CREATE TABLE number_allotments (
    e164   TEXT PRIMARY KEY CHECK (e164 <> ''),
    org_id TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    UNIQUE (e164, org_id)
);
CREATE INDEX number_allotments_org ON number_allotments (org_id, e164);

INSERT INTO number_allotments (e164, org_id) SELECT e164, org_id FROM numbers;

CREATE TABLE numbers_allotted (
    e164     TEXT PRIMARY KEY CHECK (e164 <> ''),
    org_id   TEXT NOT NULL,
    agent_id TEXT NOT NULL,
    FOREIGN KEY (org_id, agent_id) REFERENCES agents (org_id, id) ON DELETE CASCADE,
    FOREIGN KEY (e164, org_id) REFERENCES number_allotments (e164, org_id) ON DELETE CASCADE
);
INSERT INTO numbers_allotted (e164, org_id, agent_id) SELECT e164, org_id, agent_id FROM numbers;
DROP TABLE numbers;
ALTER TABLE numbers_allotted RENAME TO numbers;
CREATE INDEX numbers_org ON numbers (org_id, e164);
CREATE INDEX numbers_agent ON numbers (org_id, agent_id);

-- +goose Down
CREATE TABLE numbers_unallotted (
    e164     TEXT PRIMARY KEY CHECK (e164 <> ''),
    org_id   TEXT NOT NULL,
    agent_id TEXT NOT NULL,
    FOREIGN KEY (org_id, agent_id) REFERENCES agents (org_id, id) ON DELETE CASCADE
);
INSERT INTO numbers_unallotted (e164, org_id, agent_id) SELECT e164, org_id, agent_id FROM numbers;
DROP TABLE numbers;
ALTER TABLE numbers_unallotted RENAME TO numbers;
CREATE INDEX numbers_org ON numbers (org_id, e164);
CREATE INDEX numbers_agent ON numbers (org_id, agent_id);
DROP TABLE number_allotments;
ALTER TABLE orgs DROP COLUMN transfer_allow;
