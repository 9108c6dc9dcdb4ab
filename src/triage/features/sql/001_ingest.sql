-- The ingest tables: what was read (sources, runs), what it became (events, templates) and what could not be
-- parsed (quarantine). Column names are read by other domains through FeatureStore: keep them stable.

-- One row per distinct log file, identified by the content of its head, not by its path:
-- the same file under another path is the same source, and a file that grew resumes where it stopped.
CREATE TABLE ingest_sources (
    source_id VARCHAR PRIMARY KEY,        -- sha256 of the head (first head_len bytes), 32 hex chars
    path VARCHAR NOT NULL,                -- where it was last read from ("stdin" for standard input)
    format VARCHAR,                       -- the header format used, as JSON (kept so a resume parses alike)
    default_year INTEGER,                 -- the year given to year-less timestamps (kept for the same reason)
    service VARCHAR,                      -- the --service given when it was first ingested, if any
    head_len INTEGER NOT NULL,            -- bytes hashed into head_sha
    head_sha VARCHAR NOT NULL,
    bytes_committed BIGINT NOT NULL DEFAULT 0,   -- every byte before this offset is in events/quarantine
    lines_committed BIGINT NOT NULL DEFAULT 0,   -- physical lines before bytes_committed
    check_sha VARCHAR,                    -- sha256 of the (up to 4 KiB) bytes just before bytes_committed
    first_ingested_at TIMESTAMP NOT NULL,
    last_ingested_at TIMESTAMP NOT NULL,
    last_run_id VARCHAR
);

CREATE TABLE ingest_runs (
    run_id VARCHAR PRIMARY KEY,
    started_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP,
    status VARCHAR NOT NULL,              -- running | completed | failed | interrupted
    paths VARCHAR[],
    format VARCHAR,
    service VARCHAR,
    sources INTEGER NOT NULL DEFAULT 0,   -- sources that had new bytes
    lines BIGINT NOT NULL DEFAULT 0,      -- physical lines read  (= events + merged + quarantined)
    events BIGINT NOT NULL DEFAULT 0,     -- records stored in events
    merged BIGINT NOT NULL DEFAULT 0,     -- continuation lines joined into the record above them
    quarantined BIGINT NOT NULL DEFAULT 0,
    templates INTEGER NOT NULL DEFAULT 0, -- distinct templates among this run's events
    seconds DOUBLE NOT NULL DEFAULT 0,
    error VARCHAR
);

-- One row per log record (a header line plus its continuation lines). Everything here is redacted.
CREATE TABLE events (
    source_id VARCHAR NOT NULL,
    source VARCHAR NOT NULL,              -- the path (or "stdin") it was read from
    line_no BIGINT NOT NULL,              -- 1-based physical line of the record's first line
    ts TIMESTAMP,                         -- the record's own timestamp (UTC when the log said its zone)
    service VARCHAR,
    component VARCHAR,
    host VARCHAR,
    level VARCHAR,
    template_id VARCHAR NOT NULL,
    params VARCHAR[],                     -- values of the template's <*> variables, in order
    content VARCHAR,                      -- the redacted message body
    n_lines INTEGER NOT NULL DEFAULT 1,   -- physical lines in the record
    run_id VARCHAR NOT NULL,
    ingested_at TIMESTAMP NOT NULL,
    UNIQUE (source_id, line_no)
);

CREATE TABLE templates (
    template_id VARCHAR PRIMARY KEY,
    text VARCHAR NOT NULL,                -- the latest text, <*> for variables
    version INTEGER NOT NULL,             -- 1 for the first text, +1 each time the miner generalised it
    merged_into VARCHAR,                  -- the template this one was merged into (it has that one's text since)
    count BIGINT NOT NULL,                -- events with this template
    first_seen TIMESTAMP,                 -- earliest / latest event timestamp (NULL if no event had one)
    last_seen TIMESTAMP
);

CREATE TABLE template_versions (
    template_id VARCHAR NOT NULL,
    version INTEGER NOT NULL,
    text VARCHAR NOT NULL,
    created_at TIMESTAMP NOT NULL,
    run_id VARCHAR,
    PRIMARY KEY (template_id, version)
);

-- Lines that could not become a record, kept with the reason. raw holds the line's bytes with PHI spans
-- redacted (bytes that are not valid UTF-8 are kept as they were); raw_sha256 is of the original bytes.
CREATE TABLE quarantine (
    source_id VARCHAR NOT NULL,
    source VARCHAR NOT NULL,
    line_no BIGINT NOT NULL,
    raw BLOB NOT NULL,
    raw_sha256 VARCHAR NOT NULL,
    reason VARCHAR NOT NULL,
    run_id VARCHAR NOT NULL,
    quarantined_at TIMESTAMP NOT NULL,
    UNIQUE (source_id, line_no)
);

-- The template parser's state (miner tree, template ids, version history) that produced exactly the
-- committed events: rewritten in every batch's transaction, so a resumed ingest continues from it.
-- data/interim/miner_state.json is an export of it, written at the end of each run.
CREATE TABLE miner_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    sha256 VARCHAR NOT NULL,              -- of state
    state BLOB NOT NULL,                  -- JSON of TemplateParser.to_state()
    run_id VARCHAR,
    updated_at TIMESTAMP NOT NULL
);
