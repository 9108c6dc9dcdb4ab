-- The audit trail: append-only, hash-chained. No constraint on seq on purpose: verify() reports a
-- duplicated, missing or reordered seq instead of the store refusing the tampering silently.
CREATE TABLE IF NOT EXISTS audit_log (
    seq BIGINT NOT NULL,
    occurred_at TIMESTAMP NOT NULL,   -- UTC
    actor VARCHAR NOT NULL,
    actor_role VARCHAR,
    action VARCHAR NOT NULL,
    subject_kind VARCHAR NOT NULL,
    subject_id VARCHAR NOT NULL,
    before_json VARCHAR,
    after_json VARCHAR,
    reason VARCHAR,
    details_json VARCHAR NOT NULL,
    prev_hash VARCHAR NOT NULL,
    hash VARCHAR NOT NULL
);

-- The chain's head (one row), moved in the same transaction as each append: a deleted tail shows up
-- as a head that points past the last entry.
CREATE TABLE IF NOT EXISTS audit_head (
    seq BIGINT NOT NULL,
    hash VARCHAR NOT NULL
);
