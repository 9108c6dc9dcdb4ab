"""Change management: change requests, approvals, impact analysis, the emergency fast track."""
