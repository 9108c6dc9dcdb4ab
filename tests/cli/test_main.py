from __future__ import annotations

import subprocess
import sys


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "triage.cli", *args], capture_output=True, text=True, timeout=120)


def test_unknown_command_exits_2_with_one_line() -> None:
    proc = run("no-such-command")
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0
    assert "No such command" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_version() -> None:
    from triage import __version__

    proc = run("version")
    assert proc.returncode == 0
    assert proc.stdout.strip() == __version__
