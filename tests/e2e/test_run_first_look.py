"""`triage run` as a new user runs it, in real processes on a fresh home: samples loaded, champions trained
and registered once (the tiny pipeline), an admin key shown once, a real uvicorn server, and the bundled
Nezha TrainTicket incident replayed through the API once, ending as an incident with a root cause."""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from triage.access.keys import KeyStore, Role
from triage.cli.replay import BUNDLED_INCIDENT, REPLAY_KEY_NAME
from triage.cli.run import replay_marker
from triage.incidents.store import IncidentStore
from triage.modeling.tracking import ModelTracker
from triage.settings import Settings
from triage.storage.database import Database

REPLAYED_ERRORS = 116  # ERROR lines of the bundled case (tests/rca/test_replay.py checks the count)
TT_SERVICES = {"ts-basic-service", "ts-execute-service", "ts-food-service", "ts-preserve-service",
               "ts-travel2-service"}  # fmt: skip


def _env() -> dict[str, str]:
    # a developer's TRIAGE_* settings (bootstrap key, port, ...) must not change what a fresh home does
    return {k: v for k, v in os.environ.items() if not k.startswith("TRIAGE_")}


def triage(home: Path, *args: str, timeout: float = 400) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "triage.cli", "--home", str(home), *args]
    return subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=timeout)


def said(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr[-3000:]}"
    return result.stdout


def secrets_in(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("trg_")]


def champions(settings: Settings) -> dict[str, tuple[dict[str, int], int]]:
    models = ModelTracker.from_settings(settings).list_models()
    return {m.name: (m.aliases, len(m.versions)) for m in models}


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, str]:
    """Steps 1-4 on a fresh home, as `make run` does before serving."""
    home = tmp_path_factory.mktemp("fresh") / "home"
    return Settings(home=home), said(triage(home, "run", "--no-serve", "--pipeline", "tiny"))


def test_a_fresh_home_gets_samples_champions_and_one_admin_key(first_run: tuple[Settings, str]) -> None:
    settings, out = first_run
    assert "loaded 3 sample logs" in out and "6,000 lines -> 6,000 events" in out
    assert "trained and registered error-classifier v1 [champion]" in out
    assert champions(settings) == {"error-classifier": ({"champion": 1}, 1), "template-patterns": ({"champion": 1}, 1)}
    (secret,) = secrets_in(out)  # shown once, alone on its line
    admins = [k for k in KeyStore(Database(settings.store_path)).list() if k.role is Role.ADMIN]
    assert len(admins) == 1 and secret.startswith(f"trg_{admins[0].key_id}_")
    assert "not serving (--no-serve)" in out and not replay_marker(settings, BUNDLED_INCIDENT).exists()


def test_serving_replays_the_bundled_incident_once_through_the_api(first_run: tuple[Settings, str]) -> None:
    settings, first_out = first_run
    (admin_key,) = secrets_in(first_out)

    # second run: nothing to load or train; serve, replay, stop
    out = said(triage(settings.home, "run", "--pipeline", "tiny", "--port", "0", "--replay-speed", "40",
                      "--exit-when-ready"))  # fmt: skip
    assert "samples not loaded" in out and "not retrained" in out
    assert champions(settings) == {"error-classifier": ({"champion": 1}, 1),
                                   "template-patterns": ({"champion": 1}, 1)}  # not retrained
    assert "admin API key exists" in out and secrets_in(out) == []  # never shown again
    assert f"replayed {REPLAYED_ERRORS} of {REPLAYED_ERRORS} error events from 5 services" in out
    assert "the dataset records the injected fault in ts-basic-service" in out

    db = Database(settings.store_path)
    incidents = IncidentStore(db).list(limit=100)
    with db.read() as session:
        assert session.scalar("SELECT count(*) FROM diagnoses") == REPLAYED_ERRORS
        grouped = session.scalar("SELECT count(*) FROM diagnoses WHERE incident_id IS NOT NULL")
    assert incidents and sum(i.error_count for i in incidents) == grouped > 0
    assert all(set(i.services) <= TT_SERVICES for i in incidents)
    main = max(incidents, key=lambda i: i.error_count)
    assert main.root_cause is not None and main.root_cause.service in TT_SERVICES and main.root_cause.issue
    assert f"incident {main.incident_id}:" in out
    assert replay_marker(settings, BUNDLED_INCIDENT).is_file()
    replay_keys = [k for k in KeyStore(db).list() if k.name == REPLAY_KEY_NAME]
    assert len(replay_keys) == 1 and replay_keys[0].revoked_at is not None  # the temporary key is revoked

    # third run, in the foreground as `make run` leaves it: not replayed again; the API shows the incident
    server = LiveRun(settings.home)
    try:
        url = server.wait_for("triage run: ready: command center ").split("command center ")[1].split("/ ")[0]
        assert "already replayed into this home" in server.output
        admin = {"Authorization": f"Bearer {admin_key}"}
        listed = httpx.get(f"{url}/v1/incidents", headers=admin, timeout=30)
        assert listed.status_code == 200, listed.text
        shown = {i["incidentId"]: i for i in listed.json()}
        assert shown[main.incident_id]["rootCause"]["service"] == main.root_cause.service
        summary = httpx.get(f"{url}/v1/dashboard/summary", headers=admin, timeout=30).json()
        assert main.incident_id in {i["incidentId"] for i in summary["incidents"]}
        assert httpx.get(f"{url}/v1/incidents", timeout=30).status_code == 401  # the dashboard needs the key

        # the pattern champion looks at recent errors: a message shape it never saw is flagged "new"
        novel = {"service": "billing", "level": "ERROR", "message": "ledger shard 7 refused write: quota frozen",
                 "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        flagged: dict = {}
        novel_posts = 0
        deadline = time.monotonic() + 60
        while not flagged and time.monotonic() < deadline:
            answer = httpx.post(f"{url}/v1/diagnose", json=novel, headers=admin, timeout=30)
            assert answer.status_code == 200, answer.text
            novel_posts += 1
            flagged = answer.json()["evidence"]["modelScores"].get("recentPattern", {})
            time.sleep(0.5)
        assert "new" in flagged["kinds"], flagged

        # `triage replay` against the running server, with its own temporary service key
        replayed = said(triage(settings.home, "replay", "--url", url, "--speed", "1000", "--max-events", "5",
                               "--json"))  # fmt: skip
        assert '"posted":5' in replayed and '"incidents":[{' in replayed
    finally:
        stopped = server.stop()
    assert stopped == 130 and "replay interrupted" not in server.output  # Ctrl-C: a clean stop
    with db.read() as session:
        assert session.scalar("SELECT count(*) FROM diagnoses") == REPLAYED_ERRORS + novel_posts + 5


def test_bad_states_give_one_line_and_exit_2(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        started = time.monotonic()
        busy = triage(tmp_path / "home", "run", "--port", str(port))
        assert time.monotonic() - started < 60  # refused before loading or training anything
    assert busy.returncode == 2 and busy.stdout == ""
    assert busy.stderr.count("\n") == 1 and f"cannot listen on 127.0.0.1:{port}" in busy.stderr
    assert not (tmp_path / "home").exists()
    speed = triage(tmp_path / "home", "run", "--no-serve", "--replay-speed", "0")
    assert speed.returncode == 2 and "--replay-speed must be greater than 0" in speed.stderr
    unknown = triage(tmp_path / "home", "run", "--no-serve", "--pipeline", "no-such-pipeline")
    assert unknown.returncode == 2 and "no pipeline named 'no-such-pipeline'" in unknown.stderr
    assert unknown.stderr.count("\n") == 1 and "Traceback" not in unknown.stderr


class LiveRun:
    """`triage run` in the foreground (no --exit-when-ready), stopped with Ctrl-C like a user would."""

    def __init__(self, home: Path) -> None:
        cmd = [sys.executable, "-m", "triage.cli", "--home", str(home), "run", "--pipeline", "tiny", "--port", "0"]
        self.proc = subprocess.Popen(cmd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        self.output = ""
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)

    def wait_for(self, prefix: str, timeout: float = 300) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=1)
            except queue.Empty:
                assert self.proc.poll() is None, f"triage run exited {self.proc.returncode}:\n{self.output}"
                continue
            self.output += line
            if line.startswith(prefix):
                return line.strip()
        raise AssertionError(f"no line starting {prefix!r} in {timeout} s:\n{self.output}")

    def stop(self) -> int:
        """Ctrl-C; the exit code (130 after a clean shutdown)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        while not self.lines.empty():
            self.output += self.lines.get()
        return self.proc.returncode
