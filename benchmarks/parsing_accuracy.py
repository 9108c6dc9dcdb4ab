"""Parsing accuracy of `triage parse` on the Loghub 2k samples, against both ground truths. Prints tables.

    python benchmarks/parsing_accuracy.py [--data DIR] [--systems HDFS,Linux,...] [--keep OUTDIR] [--ablation]

For each system in ``DIR/loghub2k`` it runs the real command -- ``triage parse <S>_2k.log --format <preset>
--out ... --json`` in a subprocess, one general configuration, only the header format differs -- and
scores the CSV against

* the corrected ground truth as Loghub-2.0 scores it: ``DIR/loghub2k_corrected_loghub2/<S>/
  <S>_2k.log_structured_corrected.csv`` (the target), and
* the original 2019 ground truth: ``DIR/loghub2k/<S>/<S>_2k.log_structured.csv``.

Metrics follow Loghub-2.0's evaluator (Jiang et al., ISSTA 2024), lines aligned by ``LineId``:

* GA: share of lines whose predicted group is exactly their true group (groups = equal EventTemplate);
* FGA: F1 of group-level precision/recall (a true group counts if it is predicted exactly);
* PA: share of lines whose predicted template string equals the true one;
* FTA: F1 over predicted templates that group exactly one true template and equal its text.

Baseline, measured in the same run: bare Drain3 (``drain3.TemplateMiner``, no masking) with the
Loghub benchmark's per-system settings (``st``/``depth`` from ``loghub2k/PROVENANCE.md``) on the same
Content column. Published Drain figures (Loghub-2.0 paper, on the corrected files) are printed beside.

``--ablation`` adds a table of mean scores (corrected ground truth) with one parser knob changed at a time,
run in-process on the records ``triage.ingest`` reads (the same path as the command, minus the CSV).
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

#: system -> (triage preset, Loghub Drain st, depth) -- the per-system settings are the baseline's only
SYSTEMS: dict[str, tuple[str, float, int]] = {
    "HDFS": ("hdfs", 0.5, 4),
    "Hadoop": ("hadoop", 0.5, 4),
    "Spark": ("spark", 0.5, 4),
    "Zookeeper": ("zookeeper", 0.5, 4),
    "BGL": ("bgl", 0.5, 4),
    "HPC": ("hpc", 0.5, 4),
    "Linux": ("linux", 0.39, 6),
    "OpenSSH": ("openssh", 0.6, 5),
}

#: Published Drain on the corrected 2k files (Loghub-2.0, RQ2 table): GA, FGA, PA, FTA.
PUBLISHED_DRAIN: dict[str, tuple[float, float, float, float]] = {
    "HDFS": (0.998, 0.839, 0.500, 0.323),
    "Hadoop": (0.948, 0.820, 0.269, 0.276),
    "Spark": (0.922, 0.870, 0.362, 0.493),
    "Zookeeper": (0.967, 0.854, 0.497, 0.354),
    "BGL": (0.963, 0.833, 0.342, 0.211),
    "HPC": (0.887, 0.753, 0.635, 0.366),
    "Linux": (0.690, 0.930, 0.183, 0.435),
    "OpenSSH": (0.789, 0.880, 0.508, 0.440),
}


def f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


def scores(truth: Sequence[str], predicted: Sequence[str]) -> tuple[float, float, float, float]:
    """GA, FGA, PA, FTA of predicted templates against true templates (same lines, same order)."""
    assert len(truth) == len(predicted)
    predicted_sizes = Counter(predicted)
    lines_of: dict[str, list[int]] = defaultdict(list)
    for i, template in enumerate(truth):
        lines_of[template].append(i)
    good_lines = good_groups = 0
    for lines in lines_of.values():
        labels = {predicted[i] for i in lines}
        if len(labels) == 1 and predicted_sizes[next(iter(labels))] == len(lines):
            good_lines += len(lines)
            good_groups += 1
    ga = good_lines / len(truth)
    fga = f1(good_groups / len(predicted_sizes), good_groups / len(lines_of))
    pa = sum(a == b for a, b in zip(truth, predicted, strict=True)) / len(truth)
    truths_of: dict[str, set[str]] = defaultdict(set)
    for t, p in zip(truth, predicted, strict=True):
        truths_of[p].add(t)
    good_templates = sum(1 for p, ts in truths_of.items() if ts == {p})
    fta = f1(good_templates / len(truths_of), good_templates / len(lines_of))
    return ga, fga, pa, fta


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def run_triage_parse(log: Path, preset: str, out: Path, home: Path) -> dict[str, object]:
    command = [sys.executable, "-m", "triage.cli", "--home", str(home), "parse", str(log), "--format", preset]
    command += ["--out", str(out), "--json"]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        raise SystemExit(f"triage parse failed on {log}: {proc.stderr.strip()}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def bare_drain3(contents: Sequence[str], sim_th: float, depth: int) -> list[str]:
    from drain3 import TemplateMiner
    from drain3.template_miner_config import TemplateMinerConfig

    config = TemplateMinerConfig()
    config.drain_sim_th = sim_th
    config.drain_depth = depth
    config.masking_instructions = []
    miner = TemplateMiner(config=config)
    ids = [miner.add_log_message(c)["cluster_id"] for c in contents]
    final = {c.cluster_id: c.get_template() for c in miner.drain.clusters}
    return [final[i] for i in ids]


def ablation(data: Path, systems: Sequence[str]) -> None:
    from triage.ingest.readers import open_log
    from triage.ingest.schemas import LogRecord
    from triage.parsing import MinerConfig, ParserConfig, TemplateParser

    variants = {
        "default": ParserConfig(),
        "enum_max_values=0 (no enumerated-word split)": ParserConfig(enum_max_values=0),
        "Drain sim_th 0.5, depth 4 (Drain3's usual)": ParserConfig(miner=MinerConfig(sim_th=0.5, depth=4)),
        "Drain sim_th 0.8": ParserConfig(miner=MinerConfig(sim_th=0.8)),
        "Drain sim_th 0.85": ParserConfig(miner=MinerConfig(sim_th=0.85)),
    }
    inputs = {}
    for system in systems:
        with open_log(data / "loghub2k" / system / f"{system}_2k.log", SYSTEMS[system][0]) as reader:
            records = [item for item in reader if isinstance(item, LogRecord)]
        truth = read_csv(
            data / "loghub2k_corrected_loghub2" / system / f"{system}_2k.log_structured_corrected.csv"
        )
        inputs[system] = (records, [r["EventTemplate"] for r in truth])
    print("\nAblation: mean over the systems, corrected ground truth, one knob changed")
    print("| configuration | GA | FGA | PA | FTA |\n|---|---|---|---|---|")
    for name, config in variants.items():
        totals = [0.0] * 4
        for records, truth in inputs.values():
            parser = TemplateParser(config)
            events = parser.parse_batch(records)
            predicted = [parser.template_text(e.template_id) for e in events]
            for i, value in enumerate(scores(truth, predicted)):
                totals[i] += value / len(inputs)
        print("| {} | {:.3f} | {:.3f} | {:.3f} | {:.3f} |".format(name, *totals))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", type=Path, default=DEFAULT_DATA, help="folder holding loghub2k*/ (default: %(default)s)"
    )
    parser.add_argument("--systems", default=",".join(SYSTEMS), help="comma-separated subset")
    parser.add_argument("--keep", type=Path, help="keep the structured CSVs in this folder")
    parser.add_argument("--ablation", action="store_true", help="also print the one-knob-changed table")
    args = parser.parse_args(argv)
    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    unknown = [s for s in systems if s not in SYSTEMS]
    if unknown:
        raise SystemExit(f"unknown system(s): {', '.join(unknown)}; known: {', '.join(SYSTEMS)}")

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        out_dir = args.keep or Path(tmp)
        out_dir.mkdir(parents=True, exist_ok=True)
        for system in systems:
            preset, sim_th, depth = SYSTEMS[system]
            log = args.data / "loghub2k" / system / f"{system}_2k.log"
            started = time.perf_counter()
            out = out_dir / f"{system}_2k.log_structured.csv"
            summary = run_triage_parse(log, preset, out, Path(tmp) / "home")
            seconds = time.perf_counter() - started
            ours = read_csv(out)
            corrected = read_csv(
                args.data
                / "loghub2k_corrected_loghub2"
                / system
                / f"{system}_2k.log_structured_corrected.csv"
            )
            original = read_csv(args.data / "loghub2k" / system / f"{system}_2k.log_structured.csv")
            if [r["LineId"] for r in ours] != [r["LineId"] for r in corrected]:
                raise SystemExit(
                    f"{system}: triage parse wrote {len(ours)} rows, ground truth has {len(corrected)}"
                )
            predicted = [r["EventTemplate"] for r in ours]
            baseline = bare_drain3([r["Content"] for r in corrected], sim_th, depth)
            rows.append(
                {
                    "system": system,
                    "templates": summary["templates"],
                    "seconds": seconds,
                    "corrected": scores([r["EventTemplate"] for r in corrected], predicted),
                    "original": scores([r["EventTemplate"] for r in original], predicted),
                    "baseline": scores([r["EventTemplate"] for r in corrected], baseline),
                    "baseline_original": scores([r["EventTemplate"] for r in original], baseline),
                }
            )
            print(f"  {system}: {summary['records']} records, {summary['templates']} templates, {seconds:.1f} s",
                  file=sys.stderr)  # fmt: skip

    def table(title: str, key: str, published: bool) -> None:
        print(f"\n{title}")
        head = "| system | GA | FGA | PA | FTA | Drain3 baseline GA | PA |"
        head += " published Drain GA | FGA | PA | FTA |" if published else ""
        print(head)
        print("|" + "---|" * (head.count("|") - 1))
        base_key = "baseline" if key == "corrected" else "baseline_original"
        for row in rows:
            ga, fga, pa, fta = row[key]
            bga, _, bpa, _ = row[base_key]
            line = (
                f"| {row['system']} | {ga:.3f} | {fga:.3f} | {pa:.3f} | {fta:.3f} | {bga:.3f} | {bpa:.3f} |"
            )
            if published:
                line += " {:.3f} | {:.3f} | {:.3f} | {:.3f} |".format(*PUBLISHED_DRAIN[row["system"]])
            print(line)
        n = len(rows)
        means = [sum(r[key][i] for r in rows) / n for i in range(4)]
        base_means = [sum(r[base_key][i] for r in rows) / n for i in (0, 2)]
        line = "| **mean** | **{:.3f}** | **{:.3f}** | **{:.3f}** | **{:.3f}** | {:.3f} | {:.3f} |".format(
            *means, *base_means
        )
        if published:
            pub = [sum(PUBLISHED_DRAIN[r["system"]][i] for r in rows) / n for i in range(4)]
            line += " {:.3f} | {:.3f} | {:.3f} | {:.3f} |".format(*pub)
        print(line)

    table("Corrected ground truth (Loghub-2.0 `_structured_corrected.csv`) -- the target", "corrected", True)
    table("Original ground truth (Loghub 2k `_structured.csv`, 2019)", "original", False)
    total = sum(r["seconds"] for r in rows)
    print(f"\ntriage parse wall time, all systems (subprocess start included): {total:.1f} s")
    if args.ablation:
        ablation(args.data, systems)


if __name__ == "__main__":
    main()
