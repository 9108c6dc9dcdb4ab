"""Ranking on a synthetic propagation graph (answer known by construction), modalities missing or not."""

from __future__ import annotations

import pytest

from triage.errors import InvalidInput
from triage.rca.analysis import analyze, default_ranker
from triage.rca.bundle import BundleManifest, IncidentBundle, TimeWindow
from triage.rca.importers import load_case

ALL = ("metrics", "logs", "calls")


@pytest.mark.parametrize("root", ["payment", "stock", "bank"])
def test_the_planted_cause_ranks_first_with_every_modality(synthetic_incident, root: str) -> None:
    result = analyze(synthetic_incident(root, modalities=ALL))
    assert result.root_cause.service == root
    assert result.ranking[0].service == root
    assert result.root_cause.confidence > 0.5
    assert sum(r.score for r in result.ranking) == pytest.approx(1.0, abs=1e-3)
    assert "search" not in result.affected_services  # the noisy bystander is not connected to the fault
    assert set(result.affected_services) >= {"orders", "gateway"} & _upstream(root)
    assert result.evidence and result.evidence[0].service == root


@pytest.mark.parametrize("modalities", [("metrics",), ("logs",), ("calls",), ("metrics", "logs")])
def test_missing_modalities(synthetic_incident, modalities: tuple[str, ...]) -> None:
    result = analyze(synthetic_incident("stock", modalities=modalities))
    assert result.root_cause.service == "stock"
    assert set(result.modalities) == set(modalities)


def test_issue_names_come_from_the_strongest_evidence(synthetic_incident) -> None:
    metrics_only = analyze(synthetic_incident("bank", modalities=("metrics",)))
    assert metrics_only.root_cause.issue == "CPU contention on bank"
    logs_only = analyze(synthetic_incident("bank", modalities=("logs",)))
    assert "BankHandler#" in logs_only.root_cause.issue


def test_real_cases_from_the_fixture_slices(nezha_dir, answers) -> None:
    for case, answer in answers.items():
        result = analyze(load_case(nezha_dir / "cases" / case))
        assert result.root_cause.service == answer["root_cause_service"], case
    network = analyze(load_case(nezha_dir / "cases" / "case-b"))
    assert network.root_cause.issue == "network delay on calls to currencyservice"


def test_unusable_bundles_are_invalid_input(synthetic_incident) -> None:
    bundle = synthetic_incident("bank", modalities=("metrics",))
    undated = IncidentBundle(manifest=BundleManifest(), metrics=bundle.metrics)
    with pytest.raises(InvalidInput, match="detection time"):
        analyze(undated)
    far = undated.with_detection_time(10.0)
    with pytest.raises(InvalidInput, match="no data in the incident window"):
        analyze(far)
    no_base = IncidentBundle(manifest=BundleManifest(detection_time=1.0, incident_window=TimeWindow(start=1, end=2)),
                             metrics=bundle.metrics)
    with pytest.raises(InvalidInput, match="baseline"):
        analyze(no_base)


def test_default_ranker_is_packaged_and_fitted() -> None:
    model = default_ranker()
    assert model.coef_.shape == (model.n_features_in_,)
    assert list(model.feature_names_in_)[:2] == ["resource", "io"]


def _upstream(root: str) -> set[str]:
    return {"payment": {"orders", "gateway"}, "stock": {"orders", "catalogue", "gateway"},
            "bank": {"payment", "orders", "gateway"}}[root]
