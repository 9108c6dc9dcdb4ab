"""Model lifecycle timings: training every model on the bundled data, and loading a champion by alias.

    python benchmarks/model_lifecycle.py [--home DIR] [--repeats 5] [--skip-train]

1. ``triage pipeline run train`` on an empty home (a fresh temporary folder unless ``--home``): ingest of
   the bundled samples, feature views, every registered model trained, evaluated and registered. Wall
   time of the whole command in a new process, and the pipeline's own step/model timings.
2. Loading the ``error-classifier`` champion in a **new process** (what a scorer does at start-up), each
   ``--repeats`` times, median and max:
   - *served*: ``tracking.load_served`` — the champion exported at its last alias move, checksum-verified,
     no mlflow import: its portable copy (NumPy only, :mod:`triage.modeling.portable`; the hot path, timed
     with one prediction) and the pickled estimator (``portable=False``);
   - *registry*: ``ModelTracker.load(name, "champion")`` — alias resolved in the MLflow store, artefact
     checksum-verified, native (pickle) flavour;
   - baseline: a new process that only imports the model's libraries (sklearn, lightgbm, pandas), i.e. the
     floor any loader pays.
   Each figure is the process's wall time including interpreter start (``time.perf_counter`` around
   ``subprocess.run``) and its CPU time (user + sys from ``getrusage(RUSAGE_CHILDREN)``). The machine's
   load average is printed: on a shared machine wall time inflates with the load, CPU time much less
   (single-threaded work on an idle core takes wall ~= CPU).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODEL = "error-classifier"
PY = sys.executable
SERVED = (  # the hot path: the portable copy (NumPy only), which then classifies one event
    "from triage.modeling.tracking import load_served\n"
    "from triage.settings import Settings\n"
    "m = load_served(Settings().models_dir / 'served', {name!r})\n"
    "assert m.estimator.classify([{{'message': 'Connection refused', 'level': 'ERROR', 'service': 'db'}}])\n"
)
SERVED_PICKLE = (
    "from triage.modeling.tracking import load_served\n"
    "from triage.settings import Settings\n"
    "m = load_served(Settings().models_dir / 'served', {name!r}, portable=False)\n"
    "assert m.estimator.predict_frame is not None\n"
)
REGISTRY = (
    "from triage.modeling.tracking import ModelTracker\n"
    "from triage.settings import Settings\n"
    "m = ModelTracker.from_settings(Settings()).load({name!r})\n"
    "assert m.estimator.predict_frame is not None\n"
)
IMPORTS = "import pandas, sklearn.pipeline, lightgbm, triage.modeling.classification\n"


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of a child process."""
    cpu = _children_cpu()
    started = time.perf_counter()
    proc = subprocess.run(args, env=env, capture_output=True, text=True, timeout=3600)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args[:4])}... failed:\n{proc.stderr[-2000:]}")
    return seconds, _children_cpu() - cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, default=None)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--skip-train", action="store_true", help="reuse a home that already has champions")
    args = parser.parse_args(argv)
    home = args.home or Path(tempfile.mkdtemp(prefix="triage-bench-"))
    env = {**os.environ, "TRIAGE_HOME": str(home)}
    env.pop("TRIAGE_MLFLOW_TRACKING_URI", None)
    print(f"# home {home}; cores {os.cpu_count()}; load average before {os.getloadavg()[0]:.2f}")

    if not args.skip_train:
        cpu = _children_cpu()
        started = time.perf_counter()
        proc = subprocess.run([PY, "-m", "triage.cli", "pipeline", "run", "train", "--json"], env=env,
                              capture_output=True, text=True, timeout=3600)  # fmt: skip
        wall, cpu = time.perf_counter() - started, _children_cpu() - cpu
        if proc.returncode != 0:
            raise SystemExit(f"pipeline failed:\n{proc.stderr[-3000:]}")
        report = json.loads(proc.stdout)
        print("\n## triage pipeline run train, empty home (new process)")
        print("| part | wall s |\n|---|---|")
        for step, detail in report["steps"].items():
            print(f"| step {step} | {detail.get('seconds', 0):.1f} |")
        for model in report["models"]:
            print(f"| train {model['name']} (build + held-back evaluation) | {model['seconds']:.1f} |")
        print(f"| pipeline (in-process total) | {report['seconds']:.1f} |")
        print(f"| **whole command** (imports, MLflow store creation, registration) | **{wall:.1f}** |")
        print(f"whole command CPU time (user+sys, all threads): {cpu:.1f} s; "
              f"load average after: {os.getloadavg()[0]:.2f}")

    rows = []
    for label, code in (("imports of the pickled model's libraries (its floor)", IMPORTS),
                        ("served champion, portable copy + one prediction (hot path)", SERVED.format(name=MODEL)),
                        ("served champion, pickled estimator", SERVED_PICKLE.format(name=MODEL)),
                        ("registry alias via MLflow (pickled)", REGISTRY.format(name=MODEL))):  # fmt: skip
        runs = [timed([PY, "-c", code], env) for _ in range(args.repeats)]
        walls, cpus = [w for w, _ in runs], [c for _, c in runs]
        rows.append((label, statistics.median(walls), max(walls), statistics.median(cpus)))
    print(f"\n## load `{MODEL}` champion in a new process ({args.repeats} runs)")
    print("| loader | median wall s | max wall s | median CPU s |\n|---|---|---|---|")
    for label, median, worst, cpu in rows:
        print(f"| {label} | {median:.2f} | {worst:.2f} | {cpu:.2f} |")
    print(f"load average after loading: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
