-- Alerts (full record as JSON in `doc`) and the delivery outbox. No primary keys: ids are allocated under
-- the store's exclusive write lock, and DuckDB rejects updating an indexed row twice in one transaction.
CREATE TABLE IF NOT EXISTS alerts (
    id VARCHAR NOT NULL,
    dedup_key VARCHAR NOT NULL,
    state VARCHAR NOT NULL,
    severity VARCHAR NOT NULL,
    type VARCHAR NOT NULL,
    incident_id VARCHAR,
    team VARCHAR NOT NULL,
    first_seen TIMESTAMP NOT NULL,
    last_seen TIMESTAMP NOT NULL,
    next_escalation_at TIMESTAMP,
    doc VARCHAR NOT NULL
);

CREATE TABLE IF NOT EXISTS alert_deliveries (
    id BIGINT NOT NULL,
    alert_id VARCHAR NOT NULL,
    incident_id VARCHAR,
    channel VARCHAR NOT NULL,
    team VARCHAR NOT NULL,
    recipient VARCHAR,
    address VARCHAR,
    kind VARCHAR NOT NULL,
    escalation_level INTEGER NOT NULL,
    due_at TIMESTAMP NOT NULL,
    status VARCHAR NOT NULL,
    attempts INTEGER NOT NULL,
    claimed_at TIMESTAMP,
    sent_at TIMESTAMP,
    error VARCHAR
);
