"""Root-cause accuracy on the labelled RCA cases: AC@1, AC@3, Avg@5 per system and per fault type.

    .venv/bin/python benchmarks/rca_accuracy.py [--data DIR] [--cases SUBSTRING] [--alpha 3.0] [--details]
                                                [--group-splits] [--save-ranker src/triage/rca/ranker.json]

DIR defaults to the checkout's sibling ``shared/data``; every ``rca/<dataset>/cases.csv`` under it is used
(Nezha TrainTicket + OnlineBoutique, RCD Sock Shop). Labels are read from ``cases.csv`` for scoring only.

The ranker is learned, so the headline figures are **leave-one-case-out**: for each case, a ranker is
fitted on all other cases and scores this one. Also printed, from the same run:

* ``baseline``: a BARO/NSigma-style ranking by each service's largest one-sided robust metric z-score
  (resource, latency, error metrics) — the simple-statistics bar;
* ``--group-splits``: leave-one-system-out and leave-one-fault-type-out (a ranker that never saw the
  system, or that fault type on that system, scores it) — closer to what cases of unseen faults see;
* ``packaged``: the ranker shipped in ``triage/rca/ranker.json`` (fitted on all of these cases, so
  in-sample; shown to check it matches the leave-one-out figures).

Time per case = importing the case folder + the full analysis (signals, features, ranking, naming),
with the ranker already loaded. ``--save-ranker`` refits on all cases and writes the JSON model.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from triage.rca.analysis import default_ranker, explain, rank_services
from triage.rca.importers import load_case
from triage.rca.training import DEFAULT_ALPHA, LabelledIncident, fit_ranker

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
SYSTEM_NAMES = {"trainticket": "TrainTicket", "onlineboutique": "OnlineBoutique", "sockshop": "Sock Shop"}
PUBLISHED = [
    ("Nezha (FSE'23), OnlineBoutique, dev+held-out", "AS@1 0.9286 / AS@3 0.9643 / AS@5 0.9643"),
    ("Nezha (FSE'23), TrainTicket, dev+held-out", "AS@1 0.8667 / AS@3 0.9778 / AS@5 0.9778"),
    ("BARO (ASE'24 Table 5), Sock Shop 1 CPU / MEM, all 50", "Avg@5 0.99 / 0.99"),
    ("NSigma (ASE'24 Table 5), Sock Shop 1 CPU / MEM, all 50", "Avg@5 0.98 / 0.99"),
]


@dataclass
class Case:
    case_id: str
    folder: Path
    system: str
    fault: str
    root_cause: str


def discover(data: Path, pattern: str | None) -> list[Case]:
    cases: list[Case] = []
    for index in sorted((data / "rca").glob("*/cases.csv")):
        table = pd.read_csv(index)
        dataset = index.parent.name
        for row in table.itertuples():
            if pattern and pattern not in row.case_id:
                continue
            system = getattr(row, "system", None) or ("sockshop" if "sockshop" in dataset else dataset)
            cases.append(Case(row.case_id, index.parent / "cases" / row.case_id, str(system),
                              str(row.fault_type), str(row.root_cause_service)))
    return cases


def rank_of(order: list[str], truth: str) -> int:
    return order.index(truth) + 1 if truth in order else 10_000


def metric_baseline(features: pd.DataFrame) -> list[str]:
    """Services by their largest one-sided robust metric z (what BARO/NSigma-style rankers use)."""
    return list(features[["resource", "latency", "errors"]].max(axis=1).sort_values(ascending=False).index)


def summarise(frame: pd.DataFrame, rank_column: str) -> pd.DataFrame:
    ranks = frame[rank_column]
    scored = frame.assign(**{f"AC@{k}": (ranks <= k).astype(float) for k in (1, 3, 5)},
                          **{"Avg@5": sum((ranks <= k).astype(float) for k in range(1, 6)) / 5})
    return scored


def table(frame: pd.DataFrame, rank_column: str) -> pd.DataFrame:
    scored = summarise(frame, rank_column)
    columns = ["AC@1", "AC@3", "Avg@5"]
    rows = []
    for system, part in scored.groupby("system", sort=False):
        rows.append((SYSTEM_NAMES.get(system, system), "all", len(part), *part[columns].mean()))
        for fault, sub in part.groupby("fault"):
            rows.append(("", fault, len(sub), *sub[columns].mean()))
    rows.append(("overall", "all", len(scored), *scored[columns].mean()))
    return pd.DataFrame(rows, columns=["system", "fault type", "cases", *columns])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=SHARED)
    parser.add_argument("--cases", default=None, help="only case ids containing this substring")
    parser.add_argument("--alpha", type=float, default=DEFAULT_ALPHA, help="pull of the ranker towards its prior")
    parser.add_argument("--save-ranker", type=Path, default=None, help="refit on all cases and write the JSON model")
    parser.add_argument("--details", action="store_true", help="print every case's ranks")
    parser.add_argument("--group-splits", action="store_true",
                        help="also score leave-one-system-out and leave-one-fault-type-out (harsher than per case)")
    args = parser.parse_args()
    if not (args.data / "rca").is_dir():
        sys.exit(f"no rca data under {args.data} (give --data DIR)")
    cases = discover(args.data, args.cases)
    packaged = default_ranker()

    incidents: list[LabelledIncident] = []
    rows = []
    for case in cases:
        start, cpu_start = time.perf_counter(), time.process_time()
        bundle = load_case(case.folder)
        ranking = rank_services(bundle, ranker=packaged)
        result = explain(bundle, ranking, ranker=packaged)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
        features = ranking.features
        incidents.append(LabelledIncident(case.case_id, features, case.root_cause))
        rows.append({
            "case": case.case_id, "system": case.system, "fault": case.fault, "truth": case.root_cause,
            "seconds": seconds,
            "cpu_seconds": cpu,
            "rank_packaged": rank_of([r.service for r in result.ranking], case.root_cause),
            "rank_baseline": rank_of(metric_baseline(features), case.root_cause),
            "confidence": result.root_cause.confidence,
            "top": result.root_cause.service,
            "issue": result.root_cause.issue,
        })
    frame = pd.DataFrame(rows)

    loco_ranks = []
    for i, incident in enumerate(incidents):
        model = fit_ranker(incidents[:i] + incidents[i + 1:], alpha=args.alpha)
        scores = pd.Series(model.decision_function(incident.features), index=incident.features.index)
        order = list(scores.sort_values(ascending=False, kind="stable").index)
        loco_ranks.append(rank_of(order, incident.root_cause))
    frame["rank_loco"] = loco_ranks
    if args.group_splits:
        for name, keys in (("system", frame["system"]), ("fault type", frame["system"] + ":" + frame["fault"])):
            frame[f"rank_lo_{name}"] = _leave_group_out(incidents, list(keys), args.alpha)

    pd.set_option("display.width", 200)
    fmt = {c: "{:.3f}".format for c in ("AC@1", "AC@3", "Avg@5")}
    print(f"# Root-cause analysis: {len(frame)} cases from {args.data / 'rca'}\n")
    print("## triage rca, leave-one-case-out (headline)")
    print(table(frame, "rank_loco").to_string(index=False, formatters=fmt))
    if args.group_splits:
        for name, unseen in (("system", "the system"), ("fault type", "this fault type on this system")):
            scored = summarise(frame, f"rank_lo_{name}")
            by_system = scored.groupby("system")["AC@1"].mean()
            per_system = ", ".join(f"{SYSTEM_NAMES.get(k, k)} {v:.3f}" for k, v in by_system.items())
            print(f"\n## leave-one-{name.replace(' ', '-')}-out (the ranker never saw {unseen}): "
                  f"AC@1 {per_system}; overall AC@1 {scored['AC@1'].mean():.3f}, Avg@5 {scored['Avg@5'].mean():.3f}")
    print("\n## baseline measured in the same run: max one-sided robust metric z (BARO/NSigma-style)")
    print(table(frame, "rank_baseline").to_string(index=False, formatters=fmt))
    print("\n## packaged ranker (fitted on all these cases: in-sample)")
    print(table(frame, "rank_packaged").to_string(index=False, formatters=fmt))
    print("\n## published figures (service level)")
    for name, figure in PUBLISHED:
        print(f"  {name}: {figure}")
    hits = frame["rank_packaged"] == 1
    print("\n## confidence (packaged ranker): mean when right "
          f"{frame.loc[hits, 'confidence'].mean():.2f}, when wrong {frame.loc[~hits, 'confidence'].mean():.2f}")
    print("## time per case (import + analysis, ranker loaded), wall and CPU (the work is single-threaded)")
    for system, part in [("all", frame), *frame.groupby("system")]:
        print(f"   {SYSTEM_NAMES.get(system, system):>14}: wall mean {part['seconds'].mean():.3f} s, "
              f"p95 {part['seconds'].quantile(0.95):.3f} s, max {part['seconds'].max():.3f} s | CPU mean "
              f"{part['cpu_seconds'].mean():.3f} s, max {part['cpu_seconds'].max():.3f} s")
    print(f"   load average during the run: {os.getloadavg()[0]:.1f} (2 cores)")
    if args.details:
        print(frame[["case", "truth", "top", "rank_loco", "rank_packaged", "rank_baseline", "confidence",
                     "seconds", "cpu_seconds"]].to_string(index=False))
    if args.save_ranker:
        model = fit_ranker(incidents, alpha=args.alpha)
        args.save_ranker.write_text(json.dumps(model.to_dict(), indent=1) + "\n", encoding="utf-8")
        coefs = dict(zip(model.feature_names_in_, np.round(model.coef_, 3), strict=True))
        print(f"\nwrote {args.save_ranker}: {coefs}")


def _leave_group_out(incidents: list[LabelledIncident], groups: list[str], alpha: float) -> list[int]:
    """Rank of each incident's root cause under a ranker fitted on the incidents of the other groups."""
    ranks = []
    for incident, group in zip(incidents, groups, strict=True):
        train = [other for other, g in zip(incidents, groups, strict=True) if g != group]
        model = fit_ranker(train, alpha=alpha)
        scores = pd.Series(model.decision_function(incident.features), index=incident.features.index)
        ranks.append(rank_of(list(scores.sort_values(ascending=False, kind="stable").index), incident.root_cause))
    return ranks


if __name__ == "__main__":
    main()
