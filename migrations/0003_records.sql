-- Small keyed records beside the payments (approvals, refunds), changed only by
-- compare-and-swap on the whole value.
CREATE TABLE records (
    kind  text NOT NULL,
    key   text NOT NULL,
    value bytea NOT NULL,
    PRIMARY KEY (kind, key)
);
