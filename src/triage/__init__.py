"""triage: a diagnosis engine for outages."""

__version__ = "0.1.0"
