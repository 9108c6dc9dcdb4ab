-- Change requests: the full record as JSON in `doc`, plus the columns lists and filters need.
-- No primary key on purpose: DuckDB's over-eager index checks reject an update of an indexed row twice in
-- one transaction; ids are allocated under the store's exclusive write lock, so they stay unique.
CREATE TABLE IF NOT EXISTS changes (
    id VARCHAR NOT NULL,
    type VARCHAR NOT NULL,
    state VARCHAR NOT NULL,
    title VARCHAR NOT NULL,
    requester VARCHAR NOT NULL,
    services VARCHAR[] NOT NULL,
    incident_id VARCHAR,
    window_start TIMESTAMP,
    window_end TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    version INTEGER NOT NULL,
    doc VARCHAR NOT NULL
);
