-- IACE schema for PostgreSQL 15+ with pgvector and pg_trgm.
--
-- Every row that belongs to an organization carries org_id, and every index
-- a query of one organization uses starts with org_id; the (org_id, id)
-- unique keys let a foreign key check that a row points into its own
-- organization. Identifiers and the text sort keys use the "C" collation so
-- that ordering is byte order, as in Go and the embedded backend, whatever
-- the database's locale. JSON values are jsonb; times are timestamptz (UTC,
-- microseconds).
--
-- The extensions are shared by every schema of the database, so Down leaves
-- them installed.

-- +goose Up
CREATE EXTENSION IF NOT EXISTS vector;
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE organizations (
    id         text COLLATE "C" PRIMARY KEY,
    name       text        NOT NULL CHECK (name <> ''),
    created_at timestamptz NOT NULL
);

CREATE TABLE users (
    id            text COLLATE "C" PRIMARY KEY,
    org_id        text COLLATE "C" NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    email         text        NOT NULL CHECK (email <> ''),
    password_hash text        NOT NULL DEFAULT '',
    role          text        NOT NULL CHECK (role IN ('admin', 'supervisor', 'viewer')),
    created_at    timestamptz NOT NULL,
    disabled_at   timestamptz,
    UNIQUE (org_id, id)
);
-- Emails are unique across IACE: a login finds its organization by email.
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

CREATE TABLE agents (
    id              text COLLATE "C" PRIMARY KEY,
    org_id          text COLLATE "C" NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name            text        NOT NULL CHECK (name <> ''),
    greeting        text        NOT NULL DEFAULT '',
    system_prompt   text        NOT NULL DEFAULT '',
    voice           text        NOT NULL DEFAULT '',
    language        text        NOT NULL DEFAULT '',
    fallback        text        NOT NULL DEFAULT '',
    intents         jsonb       NOT NULL DEFAULT 'null',
    transfer_number text        NOT NULL DEFAULT '',
    settings        jsonb       NOT NULL DEFAULT '{}',
    tools           jsonb       NOT NULL DEFAULT 'null',
    escalation      jsonb       NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    UNIQUE (org_id, id)
);

-- A number belongs to one organization across IACE (an incoming call finds
-- its organization by the dialed number); deleting its agent removes it.
CREATE TABLE numbers (
    e164     text COLLATE "C" PRIMARY KEY CHECK (e164 <> ''),
    org_id   text COLLATE "C" NOT NULL,
    agent_id text COLLATE "C" NOT NULL,
    FOREIGN KEY (org_id, agent_id) REFERENCES agents (org_id, id) ON DELETE CASCADE
);
CREATE INDEX numbers_org ON numbers (org_id, e164);
CREATE INDEX numbers_agent ON numbers (org_id, agent_id);

CREATE TABLE customers (
    id             text COLLATE "C" PRIMARY KEY,
    org_id         text COLLATE "C" NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    phone          text        NOT NULL CHECK (phone <> ''),
    name           text        NOT NULL DEFAULT '',
    email          text        NOT NULL DEFAULT '',
    attributes     jsonb       NOT NULL DEFAULT 'null',
    memory_summary text        NOT NULL DEFAULT '',
    call_count     integer     NOT NULL DEFAULT 0,
    last_call_at   timestamptz,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    UNIQUE (org_id, phone),
    UNIQUE (org_id, id)
);
-- SearchCustomers lists by name (byte order), then id.
CREATE INDEX customers_name ON customers (org_id, (name COLLATE "C"), id);
-- Case-insensitive substring search (LIKE '%q%') of name, phone and email.
CREATE INDEX customers_name_trgm ON customers USING gin (lower(name) gin_trgm_ops);
CREATE INDEX customers_phone_trgm ON customers USING gin (lower(phone) gin_trgm_ops);
CREATE INDEX customers_email_trgm ON customers USING gin (lower(email) gin_trgm_ops);

-- Calls keep their agent id when the agent is deleted, so agent_id has no
-- foreign key; a call's customer must be one of its organization's.
CREATE TABLE calls (
    id                text COLLATE "C" PRIMARY KEY,
    org_id            text COLLATE "C" NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    agent_id          text COLLATE "C" NOT NULL CHECK (agent_id <> ''),
    customer_id       text COLLATE "C",
    call_control_id   text        NOT NULL DEFAULT '',
    call_session_id   text        NOT NULL DEFAULT '',
    direction         text        NOT NULL DEFAULT '',
    from_number       text        NOT NULL DEFAULT '',
    to_number         text        NOT NULL DEFAULT '',
    status            text        NOT NULL CHECK (status IN ('ringing', 'active', 'ended')),
    outcome           text        NOT NULL DEFAULT ''
                                  CHECK (outcome IN ('', 'resolved', 'escalated', 'abandoned', 'failed')),
    end_reason        text        NOT NULL DEFAULT '',
    escalation_reason text        NOT NULL DEFAULT '',
    started_at        timestamptz NOT NULL,
    answered_at       timestamptz,
    ended_at          timestamptz,
    duration_us       bigint      NOT NULL DEFAULT 0,
    sentiment         jsonb,
    FOREIGN KEY (org_id, customer_id) REFERENCES customers (org_id, id),
    UNIQUE (org_id, id)
);
-- Keyset listing newest first, and the same order under each equality filter.
CREATE INDEX calls_started ON calls (org_id, started_at DESC, id DESC);
CREATE INDEX calls_status ON calls (org_id, status, started_at DESC, id DESC);
CREATE INDEX calls_outcome ON calls (org_id, outcome, started_at DESC, id DESC);
CREATE INDEX calls_agent ON calls (org_id, agent_id, started_at DESC, id DESC);
CREATE INDEX calls_customer ON calls (org_id, customer_id, started_at DESC, id DESC)
    WHERE customer_id IS NOT NULL;
CREATE INDEX calls_control ON calls (org_id, call_control_id) WHERE call_control_id <> '';

-- A call's transcript, keyed by (call_id, seq) so that a replayed write is
-- a no-op.
CREATE TABLE turns (
    call_id     text COLLATE "C" NOT NULL,
    seq         integer     NOT NULL CHECK (seq > 0),
    org_id      text COLLATE "C" NOT NULL,
    speaker     text        NOT NULL CHECK (speaker IN ('caller', 'agent')),
    text        text        NOT NULL DEFAULT '',
    started_at  timestamptz NOT NULL,
    ended_at    timestamptz NOT NULL,
    interrupted boolean     NOT NULL DEFAULT false,
    sentiment   double precision,
    latency     jsonb,
    PRIMARY KEY (call_id, seq),
    FOREIGN KEY (org_id, call_id) REFERENCES calls (org_id, id) ON DELETE CASCADE
);
CREATE INDEX turns_org_started ON turns (org_id, started_at DESC, call_id, seq);
-- Whole-word, case-insensitive, unstemmed search: the 'simple' configuration
-- lower-cases words and keeps them as they are.
CREATE INDEX turns_text_fts ON turns USING gin (to_tsvector('simple', text));

CREATE TABLE patterns (
    id         text COLLATE "C" PRIMARY KEY,
    org_id     text COLLATE "C" NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    agent_id   text COLLATE "C", -- NULL for an org-wide pattern
    kind       text        NOT NULL DEFAULT '',
    trigger    text        NOT NULL CHECK (trigger <> ''),
    response   text        NOT NULL DEFAULT '',
    uses       integer     NOT NULL DEFAULT 0,
    successes  integer     NOT NULL DEFAULT 0,
    embedding  vector(768) NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE INDEX patterns_created ON patterns (org_id, created_at DESC, id DESC);
CREATE INDEX patterns_agent ON patterns (org_id, agent_id, created_at DESC, id DESC);
-- Approximate nearest neighbours by cosine distance (embedding <=> query).
CREATE INDEX patterns_embedding ON patterns USING hnsw (embedding vector_cosine_ops);

CREATE TABLE refresh_tokens (
    id          text COLLATE "C" PRIMARY KEY,
    org_id      text COLLATE "C" NOT NULL,
    user_id     text COLLATE "C" NOT NULL,
    family      text COLLATE "C" NOT NULL CHECK (family <> ''),
    hash        bytea       NOT NULL UNIQUE,
    expires_at  timestamptz NOT NULL,
    created_at  timestamptz NOT NULL,
    rotated_at  timestamptz,
    revoked_at  timestamptz,
    replaced_by text COLLATE "C" NOT NULL DEFAULT '',
    FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id) ON DELETE CASCADE
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (org_id, family);
CREATE INDEX refresh_tokens_user ON refresh_tokens (org_id, user_id);

-- Telnyx webhook event ids already handled (redeliveries are dropped).
CREATE TABLE webhook_events (
    id          text PRIMARY KEY,
    received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_events_received ON webhook_events (received_at);

-- +goose Down
DROP TABLE webhook_events;
DROP TABLE refresh_tokens;
DROP TABLE patterns;
DROP TABLE turns;
DROP TABLE calls;
DROP TABLE customers;
DROP TABLE numbers;
DROP TABLE agents;
DROP TABLE users;
DROP TABLE organizations;
