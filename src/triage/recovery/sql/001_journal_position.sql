-- The last journal entry whose effects are in the store, per stream; moved in the same transaction as the
-- data it describes, so a snapshot of the store knows exactly where journal replay must resume.
CREATE TABLE IF NOT EXISTS recovery_journal_position (
    stream VARCHAR PRIMARY KEY,
    seq BIGINT NOT NULL,
    entry_ts TIMESTAMPTZ NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
