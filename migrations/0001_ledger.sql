-- The paylink ledger on PostgreSQL: the same records as the sled backend.
-- Payments are stored whole as JSON (`doc`, the same encoding as sled) beside the columns
-- that are looked up, constrained or scheduled on, which are kept equal to the document's
-- fields by every write.

CREATE TABLE payments (
    id              text PRIMARY KEY,
    organization    text NOT NULL,
    idempotency_key text NOT NULL,
    reference       text NOT NULL,
    entity_id       text,
    gateway_token   text,
    gateway_ref     text,
    status          text NOT NULL,
    created_at      bigint NOT NULL,          -- ms since the Unix epoch
    next_check_at   bigint,                   -- ms; NULL: not due
    lease_until     bigint,                   -- ms; a reconciler holds the check until then
    doc             jsonb NOT NULL
);
CREATE INDEX payments_token ON payments (gateway_token) WHERE gateway_token IS NOT NULL;
CREATE INDEX payments_gateway_ref ON payments (gateway_ref) WHERE gateway_ref IS NOT NULL;
CREATE INDEX payments_reference ON payments (reference);
CREATE INDEX payments_entity ON payments (organization, entity_id) WHERE entity_id IS NOT NULL;
CREATE INDEX payments_created ON payments (created_at DESC, id DESC);
CREATE INDEX payments_due ON payments (next_check_at, id) WHERE next_check_at IS NOT NULL;

-- Idempotency claims: the primary key is what makes one key one payment across replicas.
CREATE TABLE claims (
    organization    text NOT NULL,
    idempotency_key text NOT NULL,
    payment_id      text NOT NULL REFERENCES payments (id),
    fingerprint     text NOT NULL,
    expires_at      bigint,
    PRIMARY KEY (organization, idempotency_key)
);

CREATE TABLE events (
    payment_id text NOT NULL REFERENCES payments (id),
    seq        bigint NOT NULL,
    doc        jsonb NOT NULL,
    PRIMARY KEY (payment_id, seq)
);

-- Integration configs, sealed by paylink before they get here.
CREATE TABLE configs (
    organization text NOT NULL,
    environment  text NOT NULL,
    value        bytea NOT NULL,
    PRIMARY KEY (organization, environment)
);

-- The webhook confirmation log (trimmed to a cap, oldest first).
CREATE TABLE confirmations (
    id    bigserial PRIMARY KEY,
    entry bytea NOT NULL
);

-- Outbound notifications still to deliver: written in the transaction that made the
-- change, claimed by one replica at a time, deleted once delivered.
CREATE TABLE outbox (
    payment_id  text NOT NULL,
    seq         bigint NOT NULL,
    lease_until bigint NOT NULL DEFAULT 0,   -- ms; 0: free
    attempts    integer NOT NULL DEFAULT 0,
    PRIMARY KEY (payment_id, seq)
);
