from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def triage(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "triage.cli", "--home", str(home), *args],
                          capture_output=True, text=True, timeout=120)


def test_keys_create_prints_the_key_alone_on_its_last_line_and_list_hides_it(tmp_path: Path) -> None:
    created = triage(tmp_path, "keys", "create", "--role", "analyst", "--name", "ana")
    assert created.returncode == 0, created.stderr
    key = created.stdout.rstrip("\n").splitlines()[-1]
    assert key.startswith("trg_") and " " not in key
    listed = triage(tmp_path, "keys", "list")
    assert "ana" in listed.stdout and "analyst" in listed.stdout and key not in listed.stdout


def test_keys_create_with_an_unknown_role_exits_2(tmp_path: Path) -> None:
    proc = triage(tmp_path, "keys", "create", "--role", "root", "--name", "x")
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "unknown role" in proc.stderr
