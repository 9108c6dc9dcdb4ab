"""Thin runner: load a pipeline YAML, validate it, run it (what `triage pipeline run` does).

    python pipelines/run_pipeline.py pipelines/configs/train.yaml [--home DIR] [--actor NAME]

Wiring only: the steps are functions of ``triage.modeling.pipeline``; no data logic lives here.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from triage.errors import TriageError
from triage.modeling.lifecycle import audit_sink, default_actor
from triage.modeling.pipeline import load_config, run_pipeline
from triage.settings import Settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", type=Path)
    parser.add_argument("--home", type=Path, default=None)
    parser.add_argument("--actor", default=None)
    args = parser.parse_args(argv)
    try:
        settings = Settings(home=args.home.resolve()) if args.home else Settings()
        report = run_pipeline(load_config(args.config), settings, actor=args.actor or default_actor(),
                              audit=audit_sink(settings), progress=lambda m: print(f"... {m}", file=sys.stderr))  # fmt: skip
    except TriageError as exc:
        print(f"run_pipeline: error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(report.model_dump(mode="json"), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
