from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SAMPLE = Path(__file__).resolve().parents[1] / "fixtures" / "knowledge" / "postmortems_sample.jsonl"


def triage(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "triage.cli", "--home", str(home), *args],
                          capture_output=True, text=True, timeout=120)


def test_import_is_idempotent_and_search_finds_articles(tmp_path: Path) -> None:
    first = triage(tmp_path, "kb", "import", str(SAMPLE), "--json")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout) == {"articles": 3, "new": 3, "fixOutcomes": 3}
    again = triage(tmp_path, "kb", "import", str(SAMPLE), "--json")
    assert json.loads(again.stdout) == {"articles": 3, "new": 0, "fixOutcomes": 0}
    found = json.loads(triage(tmp_path, "kb", "search", "primary database disk failure", "--json").stdout)
    assert found["articles"][0]["articleId"] == "pm-synthetic-2"
    listed = json.loads(triage(tmp_path, "kb", "list", "--json").stdout)
    assert {r["kind"] for r in listed} == {"runbook", "postmortem"} and len(listed) == 8 + 3


def test_bad_input_exits_2_with_one_line(tmp_path: Path) -> None:
    missing = triage(tmp_path, "kb", "import", str(tmp_path / "nope.jsonl"))
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{not json\n")
    broken = triage(tmp_path, "kb", "import", str(bad))
    assert broken.returncode == 2 and "bad.jsonl:1" in broken.stderr and broken.stderr.count("\n") == 1
