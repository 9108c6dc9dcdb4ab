-- One row per component per recorder tick: the component's effective state at that moment.
-- `detail` is internal (which check failed); the public page never shows it.
CREATE TABLE IF NOT EXISTS status_samples (
    component VARCHAR NOT NULL,
    sampled_at TIMESTAMPTZ NOT NULL,
    state VARCHAR NOT NULL,
    detail VARCHAR
);
-- Public incident updates written by people (the automatic ones are derived from incidents, not stored).
CREATE TABLE IF NOT EXISTS status_updates (
    update_id VARCHAR PRIMARY KEY,
    incident_id VARCHAR NOT NULL,
    status VARCHAR NOT NULL,            -- investigating | identified | monitoring | resolved
    title VARCHAR,
    message VARCHAR NOT NULL,           -- public text, redacted before it is stored
    components VARCHAR[] NOT NULL,
    posted_at TIMESTAMPTZ NOT NULL,
    posted_by VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS status_maintenance (
    maintenance_id VARCHAR PRIMARY KEY,
    title VARCHAR NOT NULL,
    description VARCHAR NOT NULL,
    components VARCHAR[] NOT NULL,
    starts_at TIMESTAMPTZ NOT NULL,
    ends_at TIMESTAMPTZ NOT NULL,
    created_by VARCHAR NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    canceled_at TIMESTAMPTZ
);
