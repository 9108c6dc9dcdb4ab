"""Recovery: snapshots, integrity checks, restore, point-in-time recovery, rollback and the restoration plan.

A foundation layer: it sees models, the store, configuration and miner state only as files with manifests,
and imports nothing above ``triage.storage``. Callers above it inject what it cannot know (how to apply a
journal entry to the store, how to move a model alias, how to probe the API, where to record audit events).
"""
