"""Schedule conflicts: overlapping windows on the same or dependent services, and blackout windows. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from triage.changes.config import BlackoutWindow, DependencyGraph
from triage.changes.schemas import ChangeRequest, ChangeState, ScheduleWindow

#: Changes whose window still matters to others (planned or running).
ACTIVE_STATES = frozenset(
    {ChangeState.NEW, ChangeState.ASSESS, ChangeState.AUTHORIZE, ChangeState.SCHEDULED, ChangeState.IMPLEMENT}
)


@dataclass(frozen=True, slots=True)
class ScheduleClash:
    kind: str  # "change" | "blackout"
    ref: str  # the other change's id or the blackout's name
    detail: str

    def __str__(self) -> str:
        return f"{self.kind} {self.ref}: {self.detail}"


def find_conflicts(
    *,
    change_id: str,
    services: Sequence[str],
    window: ScheduleWindow,
    others: Iterable[ChangeRequest],
    graph: DependencyGraph,
    blackouts: Iterable[BlackoutWindow] = (),
) -> list[ScheduleClash]:
    clashes: list[ScheduleClash] = []
    for other in others:
        if other.id == change_id or other.window is None or other.state not in ACTIVE_STATES:
            continue
        if not window.overlaps(other.window):
            continue
        shared = sorted(set(services) & set(other.services))
        if shared:
            why = f"same service(s) {', '.join(shared)}"
        elif graph.related(services, other.services):
            why = f"dependent services ({', '.join(other.services)})"
        else:
            continue
        clashes.append(
            ScheduleClash(
                "change",
                other.id,
                f"{why}, window {other.window.start:%Y-%m-%d %H:%M}–{other.window.end:%H:%M} UTC overlaps",
            )
        )
    for blackout in blackouts:
        if blackout.applies_to(services) and blackout.overlaps(window):
            scope = ", ".join(blackout.services) if blackout.services else "all services"
            clashes.append(ScheduleClash("blackout", blackout.name, f"blackout window for {scope}"))
    return clashes
