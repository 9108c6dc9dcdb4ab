"""The audit trail: append-only, hash-chained AuditEvents about subjects referenced by kind and id."""
