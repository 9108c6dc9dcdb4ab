CREATE TABLE IF NOT EXISTS kb_articles (
    article_id VARCHAR PRIMARY KEY,
    kind VARCHAR NOT NULL,
    body JSON NOT NULL,
    imported_at TIMESTAMPTZ NOT NULL
);
-- How each fix fared per category: seeded from post-mortems, updated when incidents are resolved.
CREATE TABLE IF NOT EXISTS kb_fix_stats (
    category VARCHAR NOT NULL,
    fix_id VARCHAR NOT NULL,
    attempts INTEGER NOT NULL,
    successes INTEGER NOT NULL,
    total_minutes DOUBLE NOT NULL,   -- summed time to resolution over timed successes
    timed_successes INTEGER NOT NULL,
    PRIMARY KEY (category, fix_id)
);
