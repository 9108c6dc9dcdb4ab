-- How long each run's batch transactions took: about how long the store's write lock was held (waits for
-- the lock included). Read them to check that ingest never keeps the scorer and notebooks waiting long.
ALTER TABLE ingest_runs ADD COLUMN commits INTEGER DEFAULT 0;
ALTER TABLE ingest_runs ADD COLUMN commit_seconds DOUBLE DEFAULT 0;
ALTER TABLE ingest_runs ADD COLUMN max_commit_seconds DOUBLE DEFAULT 0;
