"""Alerting: rules over diagnoses → alerts, routing, escalation, acknowledgement, notifier adapters."""
