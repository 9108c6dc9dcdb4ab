"""`triage rca` end to end: through `triage.cli.main` in-process (one subprocess run checks the real exit)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

NEZHA = Path(__file__).resolve().parents[1] / "fixtures" / "rca" / "nezha"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run `triage rca ARGS` through the console entry point and collect what a user would see."""
    from triage.cli import main

    with pytest.raises(SystemExit) as exited:
        main(["rca", *args])
    out = capsys.readouterr()
    return subprocess.CompletedProcess(args, int(exited.value.code or 0), out.out, out.err)


def test_a_real_process_exits_2_with_one_line(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "triage.cli", "rca", str(tmp_path)], capture_output=True,
                          text=True, timeout=180)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "empty" in proc.stderr and "Traceback" not in proc.stderr


def test_json_output_on_a_real_case(capsys: pytest.CaptureFixture[str]) -> None:
    proc = run(capsys, str(NEZHA / "cases" / "case-b"), "--json")
    assert proc.returncode == 0, proc.stderr
    document = json.loads(proc.stdout)
    assert set(document) == {"rootCause", "ranking", "affectedServices", "evidence"}
    assert document["rootCause"]["service"] == "currencyservice"
    assert set(document["rootCause"]) == {"service", "issue", "confidence"}
    assert document["ranking"][0] == {"service": "currencyservice", "score": document["rootCause"]["confidence"]}
    assert all(set(e) >= {"service", "kind", "detail"} for e in document["evidence"])


def test_plain_text_summary(capsys: pytest.CaptureFixture[str]) -> None:
    proc = run(capsys, str(NEZHA / "cases" / "case-a"))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("root cause: ts-price-service")
    assert "evidence:" in proc.stdout


@pytest.mark.parametrize("setup", ["empty", "missing", "garbage", "malformed-metrics", "no-time"])
def test_bad_case_directories_exit_2_with_one_line(
    tmp_path: Path, setup: str, capsys: pytest.CaptureFixture[str]
) -> None:
    case = tmp_path / "case"
    if setup != "missing":
        case.mkdir()
    if setup == "garbage":
        (case / "readme.txt").write_text("nothing to see")
    if setup == "malformed-metrics":
        (case / "metrics.csv").write_text("unix,pod,service,cpu\nyesterday,a,svc,hot\n")
        (case / "label.json").write_text('{"inject_unix": 1000}')
    if setup == "no-time":
        shutil.copytree(NEZHA / "cases" / "case-b", case, dirs_exist_ok=True)
        (case / "label.json").unlink()
    proc = run(capsys, str(case))
    assert proc.returncode == 2, proc.stdout
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("triage: error: ")
    assert "Traceback" not in proc.stderr


def test_at_supplies_the_missing_detection_time(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    case = tmp_path / "case"
    shutil.copytree(NEZHA / "cases" / "case-b", case)
    (case / "label.json").unlink()
    proc = run(capsys, str(case), "--at", "1661146026", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["rootCause"]["service"] == "currencyservice"
