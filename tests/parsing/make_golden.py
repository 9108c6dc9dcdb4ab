"""Regenerate the golden `triage parse` outputs for the fixture slices (review the diff before committing).

.venv/bin/python tests/parsing/make_golden.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SLICES = {"HDFS": "hdfs", "Hadoop": "hadoop", "OpenSSH": "openssh", "Linux": "linux"}


def golden_path(system: str) -> Path:
    return FIXTURES / "golden" / "parsing" / f"{system}_150.structured.csv"


def run_parse(system: str, out: Path, home: Path) -> int:
    from triage.cli import main

    try:
        main(
            [
                "--home",
                str(home),
                "parse",
                str(FIXTURES / "parsing" / f"{system}_150.log"),
                "--format",
                SLICES[system],
                "--out",
                str(out),
            ]
        )
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        for system in SLICES:
            target = golden_path(system)
            target.parent.mkdir(parents=True, exist_ok=True)
            code = run_parse(system, target, Path(tmp))
            if code:
                sys.exit(code)
