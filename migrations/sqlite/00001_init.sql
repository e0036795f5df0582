-- IACE schema for the embedded backend (SQLite through modernc.org/sqlite).
-- Times are INTEGER microseconds since the Unix epoch, UTC; NULL for an absent
-- optional time. JSON values are TEXT. Every organization's row carries
-- org_id, and the (org_id, id) unique keys let a foreign key check that a row
-- points into its own organization.

-- +goose Up
CREATE TABLE orgs (
    id         TEXT    PRIMARY KEY,
    name       TEXT    NOT NULL CHECK (name <> ''),
    created_at INTEGER NOT NULL
);

CREATE TABLE users (
    id            TEXT    PRIMARY KEY,
    org_id        TEXT    NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    email         TEXT    NOT NULL UNIQUE CHECK (email <> ''),
    password_hash TEXT    NOT NULL DEFAULT '',
    role          TEXT    NOT NULL CHECK (role IN ('admin', 'supervisor', 'viewer')),
    created_at    INTEGER NOT NULL,
    disabled_at   INTEGER,
    UNIQUE (org_id, id)
);

CREATE TABLE agents (
    id              TEXT    PRIMARY KEY,
    org_id          TEXT    NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    name            TEXT    NOT NULL CHECK (name <> ''),
    greeting        TEXT    NOT NULL DEFAULT '',
    system_prompt   TEXT    NOT NULL DEFAULT '',
    voice           TEXT    NOT NULL DEFAULT '',
    language        TEXT    NOT NULL DEFAULT '',
    fallback        TEXT    NOT NULL DEFAULT '',
    intents         TEXT    NOT NULL DEFAULT 'null',
    transfer_number TEXT    NOT NULL DEFAULT '',
    settings        TEXT    NOT NULL DEFAULT '{}',
    tools           TEXT    NOT NULL DEFAULT 'null',
    escalation      TEXT    NOT NULL DEFAULT '{}',
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    UNIQUE (org_id, id)
);

-- A number belongs to one organization across IACE; deleting its agent
-- removes it.
CREATE TABLE numbers (
    e164     TEXT PRIMARY KEY CHECK (e164 <> ''),
    org_id   TEXT NOT NULL,
    agent_id TEXT NOT NULL,
    FOREIGN KEY (org_id, agent_id) REFERENCES agents (org_id, id) ON DELETE CASCADE
);
CREATE INDEX numbers_org ON numbers (org_id, e164);
CREATE INDEX numbers_agent ON numbers (org_id, agent_id);

-- search is lower(name) || x'1f' || lower(phone) || x'1f' || lower(email),
-- folded in Go (SQLite's lower() folds ASCII only), for substring search.
CREATE TABLE customers (
    id             TEXT    PRIMARY KEY,
    org_id         TEXT    NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    phone          TEXT    NOT NULL CHECK (phone <> ''),
    name           TEXT    NOT NULL DEFAULT '',
    email          TEXT    NOT NULL DEFAULT '',
    attributes     TEXT    NOT NULL DEFAULT 'null',
    memory_summary TEXT    NOT NULL DEFAULT '',
    call_count     INTEGER NOT NULL DEFAULT 0,
    last_call_at   INTEGER,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    search         TEXT    NOT NULL DEFAULT '',
    UNIQUE (org_id, phone),
    UNIQUE (org_id, id)
);
CREATE INDEX customers_name ON customers (org_id, name, id);

-- Calls keep their agent id when the agent is deleted, so agent_id has no
-- foreign key; a call's customer must be one of its organization's.
CREATE TABLE calls (
    id                TEXT    PRIMARY KEY,
    org_id            TEXT    NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    agent_id          TEXT    NOT NULL CHECK (agent_id <> ''),
    customer_id       TEXT,
    call_control_id   TEXT    NOT NULL DEFAULT '',
    call_session_id   TEXT    NOT NULL DEFAULT '',
    direction         TEXT    NOT NULL DEFAULT '',
    from_number       TEXT    NOT NULL DEFAULT '',
    to_number         TEXT    NOT NULL DEFAULT '',
    status            TEXT    NOT NULL CHECK (status IN ('ringing', 'active', 'ended')),
    outcome           TEXT    NOT NULL DEFAULT ''
                              CHECK (outcome IN ('', 'resolved', 'escalated', 'abandoned', 'failed')),
    end_reason        TEXT    NOT NULL DEFAULT '',
    escalation_reason TEXT    NOT NULL DEFAULT '',
    started_at        INTEGER NOT NULL,
    answered_at       INTEGER,
    ended_at          INTEGER,
    duration_us       INTEGER NOT NULL DEFAULT 0,
    sentiment         TEXT,
    FOREIGN KEY (org_id, customer_id) REFERENCES customers (org_id, id),
    UNIQUE (org_id, id)
);
-- Newest first, and the same order under each equality filter.
CREATE INDEX calls_started ON calls (org_id, started_at DESC, id DESC);
CREATE INDEX calls_agent ON calls (org_id, agent_id, started_at DESC, id DESC);
CREATE INDEX calls_customer ON calls (org_id, customer_id, started_at DESC, id DESC)
    WHERE customer_id IS NOT NULL;
CREATE INDEX calls_status ON calls (org_id, status, started_at DESC, id DESC);
CREATE INDEX calls_control ON calls (org_id, call_control_id) WHERE call_control_id <> '';

-- Turns are keyed by (call_id, seq); id is the stable rowid the full-text
-- index refers to.
CREATE TABLE turns (
    id          INTEGER PRIMARY KEY,
    org_id      TEXT    NOT NULL,
    call_id     TEXT    NOT NULL,
    seq         INTEGER NOT NULL CHECK (seq > 0),
    speaker     TEXT    NOT NULL CHECK (speaker IN ('caller', 'agent')),
    text        TEXT    NOT NULL DEFAULT '',
    started_at  INTEGER NOT NULL,
    ended_at    INTEGER NOT NULL,
    interrupted INTEGER NOT NULL DEFAULT 0,
    sentiment   REAL,
    latency     TEXT,
    FOREIGN KEY (org_id, call_id) REFERENCES calls (org_id, id) ON DELETE CASCADE,
    UNIQUE (call_id, seq)
);
CREATE INDEX turns_org_started ON turns (org_id, started_at DESC, call_id, seq);

-- Whole-word, case-insensitive search of turn text; unicode61 folds case
-- (including non-ASCII) and does not stem. Diacritics are kept: "cafe" does
-- not match "café".
CREATE VIRTUAL TABLE turns_fts USING fts5 (
    text,
    content = 'turns',
    content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 0'
);

-- +goose StatementBegin
CREATE TRIGGER turns_fts_insert AFTER INSERT ON turns BEGIN
    INSERT INTO turns_fts (rowid, text) VALUES (new.id, new.text);
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER turns_fts_delete AFTER DELETE ON turns BEGIN
    INSERT INTO turns_fts (turns_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER turns_fts_update AFTER UPDATE OF text ON turns BEGIN
    INSERT INTO turns_fts (turns_fts, rowid, text) VALUES ('delete', old.id, old.text);
    INSERT INTO turns_fts (rowid, text) VALUES (new.id, new.text);
END;
-- +goose StatementEnd

-- Embeddings are little-endian float32, searched exactly in Go.
CREATE TABLE patterns (
    id            TEXT    PRIMARY KEY,
    org_id        TEXT    NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    agent_id      TEXT    NOT NULL DEFAULT '',
    kind          TEXT    NOT NULL DEFAULT '',
    trigger_text  TEXT    NOT NULL CHECK (trigger_text <> ''),
    response_text TEXT    NOT NULL DEFAULT '',
    uses          INTEGER NOT NULL DEFAULT 0,
    successes     INTEGER NOT NULL DEFAULT 0,
    embedding     BLOB    NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
CREATE INDEX patterns_created ON patterns (org_id, created_at DESC, id DESC);

CREATE TABLE refresh_tokens (
    id          TEXT    PRIMARY KEY,
    org_id      TEXT    NOT NULL,
    user_id     TEXT    NOT NULL,
    family      TEXT    NOT NULL CHECK (family <> ''),
    hash        BLOB    NOT NULL UNIQUE,
    expires_at  INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    rotated_at  INTEGER,
    revoked_at  INTEGER,
    replaced_by TEXT    NOT NULL DEFAULT '',
    FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id) ON DELETE CASCADE
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (org_id, family);
CREATE INDEX refresh_tokens_user ON refresh_tokens (org_id, user_id);

CREATE TABLE processed_events (
    event_id     TEXT    PRIMARY KEY,
    processed_at INTEGER NOT NULL
);

-- +goose Down
DROP TABLE processed_events;
DROP TABLE refresh_tokens;
DROP TABLE patterns;
DROP TRIGGER turns_fts_update;
DROP TRIGGER turns_fts_delete;
DROP TRIGGER turns_fts_insert;
DROP TABLE turns_fts;
DROP TABLE turns;
DROP TABLE calls;
DROP TABLE customers;
DROP TABLE numbers;
DROP TABLE agents;
DROP TABLE users;
DROP TABLE orgs;
