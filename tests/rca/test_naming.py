from __future__ import annotations

import pandas as pd

from triage.rca.naming import name_issue


def _signal(name: str, modality: str, detail: str = "") -> pd.Series:
    return pd.Series({"name": name, "modality": modality, "detail": detail})


def test_names_follow_the_evidence_kind() -> None:
    assert name_issue("ts-order-service", "resource", _signal("CpuUsageRate(%)", "metrics")) == \
        "CPU contention on ts-order-service"
    assert name_issue("carts", "resource", _signal("mem", "metrics")) == "memory pressure on carts"
    assert name_issue("cart", "network", None) == "network delay on calls to cart"
    burst = name_issue("pay", "errors", _signal("PayHandler#31 failed: <*>", "logs"))
    assert burst == "exception burst: `PayHandler#31 failed: <*>`"
    stopped = name_issue("pay", "log_pattern", _signal("PayHandler#20 done", "logs", "log statement stopped in pay"))
    assert stopped.startswith("code path change in pay") and "no longer logged" in stopped
    assert name_issue("x", None, None) == "anomaly on x"


def test_names_for_silenced_and_stopped_evidence() -> None:
    logged = name_issue("price", "silenced", _signal("PriceController#46 query", "logs"))
    assert logged.startswith("code path change in price") and "still called" in logged
    calls = name_issue("web", "silenced", _signal("/query", "traces"))
    assert "no longer makes some calls" in calls and "/query" in calls
    assert name_issue("mail", "stopped", None) == "mail stopped receiving requests"
    assert name_issue("checkout", "callee_stopped", None) == \
        "code path change in checkout: a service it calls no longer receives requests from it"
    email = pd.Series({"service": "email", "name": "PodWorkload(Ops)", "modality": "metrics", "detail": ""})
    assert name_issue("checkout", "callee_stopped", email) == \
        "code path change in checkout: email no longer receives requests from it"
