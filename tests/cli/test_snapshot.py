"""`triage snapshot …` end to end through the CLI entry point (in-process: the machine is shared)."""

from __future__ import annotations

import io
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from triage.recovery.crypto import generate_key


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


def run(home: Path, *args: str, key: str | None) -> Result:
    """Run the CLI in-process as `triage --home HOME ARGS` with TRIAGE_SNAPSHOT_KEY set to ``key``."""
    from triage.cli import main

    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as mp:
        for name in [k for k in os.environ if k.startswith("TRIAGE_")]:
            mp.delenv(name)
        if key is not None:
            mp.setenv("TRIAGE_SNAPSHOT_KEY", key)
        mp.setattr(sys, "stdout", out)
        mp.setattr(sys, "stderr", err)
        try:
            main(["--home", str(home), *args])
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 0
    return Result(code, out.getvalue(), err.getvalue())


def one_line_error(proc: Result) -> str:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and proc.stderr.strip().count("\n") == 0
    return proc.stderr


@pytest.fixture
def home(tmp_path: Path) -> Path:
    interim = tmp_path / "home" / "data" / "interim"
    interim.mkdir(parents=True)
    (interim / "miner_state.json").write_text('{"clusters": 3}')
    return tmp_path / "home"


def test_create_list_verify_restore(home: Path) -> None:
    key = run(home, "snapshot", "keygen", key=None).stdout.strip()
    created = run(home, "snapshot", "create", "-c", "config", "--reason", "nightly", "--json", key=key)
    assert created.returncode == 0, created.stderr
    body = json.loads(created.stdout)
    assert body["id"] and body["components"] == ["config"] and body["reason"] == "nightly"
    listed = json.loads(run(home, "snapshot", "list", "--json", key=key).stdout)
    assert [s["id"] for s in listed] == [body["id"]]
    ok = run(home, "snapshot", "verify", body["id"], key=key)
    assert ok.returncode == 0 and "OK" in ok.stdout

    (home / "data" / "interim" / "miner_state.json").write_text("{}")
    restored = run(home, "snapshot", "restore", body["id"], "--yes", key=key)
    assert restored.returncode == 0, restored.stderr
    assert (home / "data" / "interim" / "miner_state.json").read_text() == '{"clusters": 3}'

    for chunk in (p for p in (home / "snapshots" / "chunks").rglob("*") if p.is_file()):
        data = bytearray(chunk.read_bytes())
        data[-5] ^= 0xFF
        chunk.write_bytes(bytes(data))
    bad = run(home, "snapshot", "verify", body["id"], key=key)
    assert bad.returncode == 1 and "BAD: interim/miner_state.json" in bad.stderr  # the first file, by path
    assert "failed authentication" in one_line_error(
        run(home, "snapshot", "restore", body["id"], "--yes", key=key)
    )


def test_wrong_key_missing_key_and_missing_snapshot_exit_2(home: Path) -> None:
    key = generate_key()
    assert run(home, "snapshot", "create", "-c", "config", key=key).returncode == 0
    assert "not the key of the snapshots" in one_line_error(run(home, "snapshot", "list", key=generate_key()))
    assert "no snapshot key configured" in one_line_error(run(home, "snapshot", "list", key=None))
    assert "no snapshot 'nope'" in one_line_error(run(home, "snapshot", "verify", "nope", key=key))
    assert key not in run(home, "snapshot", "list", key=generate_key()).stderr  # never echoed


def test_prune_dry_run_and_schedule_print(home: Path) -> None:
    key = generate_key()
    for _ in range(2):
        assert run(home, "snapshot", "create", "-c", "config", key=key).returncode == 0
    report = json.loads(run(home, "snapshot", "prune", "--keep-last", "1", "--hourly", "0", "--daily", "0",
                            "--dry-run", "--json", key=key).stdout)  # fmt: skip
    assert len(report["kept"]) == 1 and len(report["dropped"]) == 1 and report["dry_run"]
    cron = run(home, "snapshot", "schedule", "--print-cron", key=key).stdout
    assert "0 * * * *" in cron and "triage snapshot create" in cron


@pytest.mark.parametrize(("stdin", "code"), [("n\n", 130), ("", 2)])
def test_restore_without_yes_asks_and_a_no_or_no_answer_changes_nothing(
    home: Path, monkeypatch: pytest.MonkeyPatch, stdin: str, code: int
) -> None:
    key = generate_key()
    created = json.loads(run(home, "snapshot", "create", "-c", "config", "--json", key=key).stdout)
    (home / "data" / "interim" / "miner_state.json").write_text("{}")
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))  # "" is a closed stdin: the prompt meets EOF
    answered = run(home, "snapshot", "restore", created["id"], key=key)
    assert answered.returncode == code
    if code == 2:
        assert "pass --yes" in one_line_error(answered)
    assert (home / "data" / "interim" / "miner_state.json").read_text() == "{}"
