"""Incident history for analysts: search and filter past incidents, MTTR and weekly trends, CSV export,
and the post-incident review of one incident. Reads the incident store's tables; writes nothing."""
