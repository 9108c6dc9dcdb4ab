CREATE TABLE IF NOT EXISTS incidents (
    incident_id VARCHAR PRIMARY KEY,
    title VARCHAR NOT NULL,
    status VARCHAR NOT NULL,            -- investigating | identified | monitoring | resolved
    severity VARCHAR NOT NULL,
    category VARCHAR NOT NULL,
    services VARCHAR[] NOT NULL,
    root_service VARCHAR,
    root_issue VARCHAR,
    root_confidence DOUBLE,
    error_count BIGINT NOT NULL,
    first_seen TIMESTAMPTZ NOT NULL,
    last_seen TIMESTAMPTZ NOT NULL,
    resolved_at TIMESTAMPTZ,
    resolved_by VARCHAR,
    resolution JSON,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE IF NOT EXISTS incident_timeline (
    incident_id VARCHAR NOT NULL,
    occurred_at TIMESTAMPTZ NOT NULL,
    kind VARCHAR NOT NULL,              -- error | diagnosis | rca | alert | change | approval | recovery | resolution | feedback | note
    actor VARCHAR,
    summary VARCHAR NOT NULL,
    details JSON
);
CREATE TABLE IF NOT EXISTS diagnoses (
    error_id VARCHAR PRIMARY KEY,
    incident_id VARCHAR,
    detected_at TIMESTAMPTZ NOT NULL,
    event_ts TIMESTAMPTZ NOT NULL,
    service VARCHAR NOT NULL,
    level VARCHAR,
    severity VARCHAR NOT NULL,
    category VARCHAR NOT NULL,
    template_id VARCHAR,
    content VARCHAR NOT NULL,           -- redacted message
    body JSON NOT NULL,                 -- the Diagnosis as returned
    journal_seq BIGINT
);
CREATE TABLE IF NOT EXISTS diagnosis_feedback (
    error_id VARCHAR NOT NULL,
    occurred_at TIMESTAMPTZ NOT NULL,
    actor VARCHAR NOT NULL,
    category_correct BOOLEAN,
    correct_category VARCHAR,
    severity_correct BOOLEAN,
    correct_severity VARCHAR,
    root_cause_correct BOOLEAN,
    correct_root_service VARCHAR,
    notes VARCHAR
);
