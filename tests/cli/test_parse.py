from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "parsing"


def run(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "triage.cli", "--home", str(home), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_parse_writes_loghub_csv_and_json_summary(tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    proc = run(
        "parse", str(FIXTURES / "OpenSSH_150.log"), "--out", str(out), "--json", home=tmp_path / "home"
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout.strip())
    assert summary["format"] == "openssh"  # detected: no --format given
    assert (summary["lines"], summary["records"], summary["quarantined"]) == (150, 150, 0)
    with out.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == [
        "LineId",
        "Date",
        "Day",
        "Time",
        "Component",
        "Pid",
        "Content",
        "EventId",
        "EventTemplate",
    ]
    assert [r["LineId"] for r in rows] == [str(i) for i in range(1, 151)]
    assert len({r["EventId"] for r in rows}) == summary["templates"]
    assert not (tmp_path / "home").exists()  # the store was not touched


def test_parse_counts_quarantined_lines_and_redacts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from triage.cli import main

    log = tmp_path / "app.log"
    log.write_bytes(
        b"2024-01-02 03:04:05 INFO login ok for jane@example.org\n"
        b"\x00\x01\x02garbage\n"
        b"2024-01-02 03:04:06 ERROR card 4111 1111 1111 1111 declined\n"
    )
    out = tmp_path / "out.csv"
    with pytest.raises(SystemExit) as exit_info:
        main(["--home", str(tmp_path / "home"), "parse", str(log), "--format", "<Date> <Time> <Level> <Content>",
              "--out", str(out), "--json"])  # fmt: skip
    assert exit_info.value.code == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["records"], summary["quarantined"]) == (2, 1)
    text = out.read_text(encoding="utf-8")
    assert "jane@example.org" not in text and "4111" not in text
    assert "<EMAIL>" in text and "<CARD>" in text


def test_parse_redacts_header_fields_of_json_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from triage.cli import main

    log = tmp_path / "app.jsonl"
    log.write_text(
        '{"ts": "2024-01-02T03:04:05Z", "level": "INFO", "msg": "chart opened", "patient_email": "ann@example.org"}\n'
        '{"ts": "2024-01-02T03:04:06Z", "level": "INFO", "msg": "chart opened", "patient_email": "bob@example.org"}\n',
        encoding="utf-8",
    )
    out = tmp_path / "out.csv"
    with pytest.raises(SystemExit) as exit_info:
        main(["--home", str(tmp_path / "home"), "parse", str(log), "--format", "json", "--out", str(out)])
    assert exit_info.value.code == 0
    text = out.read_text(encoding="utf-8")
    assert "example.org" not in text
    assert text.count("<EMAIL>") == 2
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["parse", "{missing}", "--out", "{out}"], "no such file"),
        (["parse", "{log}", "--format", "no-such-preset", "--out", "{out}"], "unknown log format"),
        (["parse", "{log}", "--format", "<Date> <Content", "--out", "{out}"], "malformed log format"),
        (["parse", "{log}", "--out", "{tmp}/absent/out.csv"], "does not exist"),
        (["parse", "{log}", "--out", "{tmp}"], "is a directory"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    from triage.cli import main

    values = {
        "missing": str(tmp_path / "missing.log"),
        "out": str(tmp_path / "o.csv"),
        "log": str(FIXTURES / "HDFS_150.log"),
        "tmp": str(tmp_path),
    }
    with pytest.raises(SystemExit) as exit_info:
        main(["--home", str(tmp_path / "home"), *[a.format(**values) for a in args]])
    stderr = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert stderr.count("\n") == 1
    assert message in stderr
    assert "Traceback" not in stderr
    assert not (tmp_path / "o.csv").exists()
