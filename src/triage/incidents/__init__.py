"""Incidents: diagnoses grouped by service and time, their timeline, resolution and analyst feedback."""
