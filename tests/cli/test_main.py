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


def test_a_file_that_is_not_utf8_text_exits_2_with_one_line(tmp_path) -> None:
    """A binary file where a YAML/JSON file is expected is a user error, not a traceback."""
    binary = tmp_path / "diagnosis.json"
    binary.write_bytes(b"\x7fELF\x02\x01\xf0\x9f\x00\xff")
    proc = run("--home", str(tmp_path / "home"), "change", "emergency", "--diagnosis", str(binary))
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and "Traceback" not in proc.stderr
    assert "not UTF-8 text" in proc.stderr


def test_serve_on_a_taken_or_invalid_port_exits_2_with_one_line(tmp_path) -> None:
    """`triage serve` binds before starting the app, like `triage run`: no uvicorn log lines, exit 2."""
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = run("--home", str(tmp_path / "home"), "serve", "--port", str(port))
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and "Address already in use" in proc.stderr
    proc = run("--home", str(tmp_path / "home"), "serve", "--port", "99999")
    assert proc.returncode == 2 and "--port must be 0-65535" in proc.stderr, proc.stderr


def test_ctrl_c_stops_serve_gracefully_with_exit_130(tmp_path) -> None:
    """After its graceful shutdown the server exits 130, every time (asyncio's runner used to lose the
    re-raised SIGINT now and then, and the process exited 0)."""
    import signal
    import socket
    import time

    import httpx

    for _ in range(2):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        proc = subprocess.Popen([sys.executable, "-m", "triage.cli", "--home", str(tmp_path / "home"), "serve",
                                 "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and proc.poll() is None:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.1)
            proc.send_signal(signal.SIGINT)
            _, stderr = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.returncode == 130, stderr
        assert "Traceback" not in stderr


def test_a_home_that_is_a_file_exits_2_with_one_line(tmp_path) -> None:
    not_a_folder = tmp_path / "home.txt"
    not_a_folder.write_text("x")
    proc = subprocess.run([sys.executable, "-m", "triage.cli", "--home", str(not_a_folder), "templates"],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 2 and proc.stderr.strip().count("\n") == 0
    assert f"{not_a_folder} is a file, not a folder" in proc.stderr


def test_a_bad_setting_is_named_in_the_one_line_error() -> None:
    import os

    proc = subprocess.run([sys.executable, "-m", "triage.cli", "version"], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "TRIAGE_INGEST_BATCH_LINES": "abc"})  # fmt: skip
    assert proc.returncode == 2 and proc.stderr.strip().count("\n") == 0
    assert "invalid settings: TRIAGE_INGEST_BATCH_LINES: Input should be a valid integer" in proc.stderr


def test_a_run_loads_only_the_module_of_its_command() -> None:
    from triage.cli import COMMAND_MODULES, modules_for

    assert modules_for(["ingest", "logs/", "--json"]) == ("ingest",)
    assert modules_for(["--home", "/h", "templates"]) == ("ingest",)
    assert modules_for(["--home=/h", "keys", "create"]) == ("keys",)
    for everything in ([], ["--help"], ["no-such-command"], ["--home", "/h"]):
        assert modules_for(everything) == COMMAND_MODULES
    code = ("import sys\nfrom triage.cli import main\ntry:\n    main(['version'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in sys.modules if m.startswith('triage.cli.') and m != 'triage.cli._common'))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.stdout.split("\n")[-2] == "['triage.cli.ingest']", proc.stderr


def test_each_command_module_adds_the_commands_the_table_says() -> None:
    """``COMMANDS_ELSEWHERE`` and the module names must stay in step with what each module registers."""
    import importlib

    import typer

    from triage.cli import COMMAND_MODULES, COMMANDS_ELSEWHERE

    for module in COMMAND_MODULES:
        app = typer.Typer()
        importlib.import_module(f"triage.cli.{module}").register(app)
        names = {c.name or c.callback.__name__ for c in app.registered_commands}
        names |= {g.name or g.typer_instance.info.name for g in app.registered_groups}
        assert names == {module} | {c for c, m in COMMANDS_ELSEWHERE.items() if m == module}, module
