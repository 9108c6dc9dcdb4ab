from __future__ import annotations

import pytest

from triage.alerting.config import AlertingConfig
from triage.alerting.rules import classify, signal_from_diagnosis
from triage.alerting.schemas import AlertType, DiagnosisSummary, Severity
from triage.errors import InvalidInput


def diag(category: str, issue: str = "", service: str = "api", severity: str = "HIGH", **extra) -> dict:
    return {
        "errorId": "e1", "incidentId": "INC-1", "detectedAt": "2025-03-03T09:00:00Z", "severity": severity,
        "category": category, "affectedServices": [service],
        "rootCause": {"service": service, "issue": issue, "confidence": 0.8}, **extra,
    }


@pytest.mark.parametrize(
    ("category", "issue", "service", "expected"),
    [
        ("database", "deadlock detected", "records", AlertType.DATABASE),
        ("timeout", "connection pool exhausted", "api", AlertType.DATABASE),
        ("availability", "upstream timeout", "postgres-primary", AlertType.DATABASE),
        ("authentication", "token signature invalid", "gateway", AlertType.SECURITY),
        ("access", "unauthorized access from unknown IP", "records", AlertType.SECURITY),
        ("access", "unauthorized access to EHR export", "records", AlertType.HIPAA),
        ("data_exposure", "PHI written to application log", "intake", AlertType.HIPAA),
        ("model", "inference latency above budget", "scorer", AlertType.AI_SERVICE),
        ("availability", "all pods crash-looping", "web", AlertType.SYSTEM_OUTAGE),
        ("network", "dbus daemon restart", "web", AlertType.SYSTEM_OUTAGE),  # 'db' only as a word
    ],
)
def test_classification(category: str, issue: str, service: str, expected: AlertType) -> None:
    assert classify(DiagnosisSummary.parse(diag(category, issue, service)), AlertingConfig()) is expected


def test_phi_flag_means_hipaa() -> None:
    assert classify(DiagnosisSummary.parse(diag("database", phi=True)), AlertingConfig()) is AlertType.HIPAA


def test_signal_carries_the_diagnosis_and_respects_the_threshold() -> None:
    signal = signal_from_diagnosis(diag("database", "deadlock detected", "records", "critical"), AlertingConfig())
    assert signal.severity is Severity.CRITICAL and signal.incident_id == "INC-1"
    assert signal.key() == "INC-1:database" and signal.services == ("records",)
    assert "deadlock detected" in signal.title and "80%" in signal.summary
    quiet = AlertingConfig(min_severity=Severity.HIGH)
    assert signal_from_diagnosis(diag("database", severity="MEDIUM"), quiet) is None


def test_bad_diagnosis_is_a_clear_error() -> None:
    with pytest.raises(InvalidInput, match="severity"):
        DiagnosisSummary.parse(diag("database", severity="SEVERE"))
