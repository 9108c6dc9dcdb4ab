from __future__ import annotations

from triage.rca.graph import ServiceGraph


def test_reachability_both_ways_and_cycles_terminate() -> None:
    graph = ServiceGraph.from_edges([("a", "b"), ("b", "c"), ("c", "a"), ("b", "d"), ("x", "x"), ("", "d")])
    assert graph.callees["b"] == {"c", "d"}
    assert graph.callers["d"] == {"b"}
    assert graph.downstream("a") == {"b", "c", "d"}
    assert graph.upstream("d") == {"a", "b", "c"}
    assert "x" not in graph.callees  # self-calls are not dependencies
    assert ServiceGraph.from_edges([]).is_empty


def test_graph_from_bundle_merges_manifest_and_calls(synthetic_incident) -> None:
    graph = ServiceGraph.from_bundle(synthetic_incident("db"))
    assert graph.upstream("db") == {"stock", "orders", "catalogue", "gateway"}
    assert graph.downstream("orders") == {"payment", "stock", "bank", "db"}
