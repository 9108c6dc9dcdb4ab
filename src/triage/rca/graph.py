"""The service dependency graph of a bundle: who calls whom.

Edges come from the manifest's dependency list and from the calls table (caller != callee, caller known).
A fault in a callee shows up as symptoms in its callers (upstream), never the other way round.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from triage.rca.bundle import IncidentBundle


@dataclass(frozen=True, slots=True)
class ServiceGraph:
    """Adjacency in both directions; services without edges are simply absent."""

    callers: dict[str, frozenset[str]] = field(default_factory=dict)
    callees: dict[str, frozenset[str]] = field(default_factory=dict)

    @classmethod
    def from_edges(cls, edges: Iterable[tuple[str, str]]) -> ServiceGraph:
        callers: dict[str, set[str]] = {}
        callees: dict[str, set[str]] = {}
        for caller, callee in edges:
            if not caller or not callee or caller == callee:
                continue
            callees.setdefault(caller, set()).add(callee)
            callers.setdefault(callee, set()).add(caller)
        return cls(
            callers={k: frozenset(v) for k, v in callers.items()},
            callees={k: frozenset(v) for k, v in callees.items()},
        )

    @classmethod
    def from_bundle(cls, bundle: IncidentBundle) -> ServiceGraph:
        edges = {(e.caller, e.callee) for e in bundle.manifest.dependencies}
        calls = bundle.calls
        if calls is not None and len(calls):
            known = calls[(calls["caller"] != "") & (calls["caller"] != calls["callee"])]
            edges.update(zip(known["caller"], known["callee"], strict=True))
        return cls.from_edges(edges)

    @property
    def is_empty(self) -> bool:
        return not self.callees

    def upstream(self, service: str) -> set[str]:
        """Every service that (transitively) calls ``service``: where its faults propagate to."""
        return self._reach(service, self.callers)

    def downstream(self, service: str) -> set[str]:
        """Every service ``service`` (transitively) calls."""
        return self._reach(service, self.callees)

    @staticmethod
    def _reach(start: str, adjacency: dict[str, frozenset[str]]) -> set[str]:
        seen: set[str] = set()
        queue = deque(adjacency.get(start, ()))
        while queue:
            node = queue.popleft()
            if node in seen or node == start:
                continue
            seen.add(node)
            queue.extend(adjacency.get(node, ()))
        return seen
