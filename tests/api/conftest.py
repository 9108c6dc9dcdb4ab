"""A real uvicorn server (``triage serve``) on a free port, with its own home and keys per role."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

ROLES = ("service", "analyst", "engineer", "approver", "admin")
#: One TLS context for every test client: httpx otherwise builds one per client, loading the CA bundle each
#: time (~50 ms of CPU), and tests open hundreds of clients. The servers here speak plain HTTP anyway.
TLS = ssl.create_default_context()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def triage(home: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "triage.cli", "--home", str(home), *args],
                          capture_output=True, text=True, timeout=timeout)


@dataclass
class Server:
    home: Path
    port: int
    keys: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> None:
        log = open(self.home / "server.log", "ab")  # noqa: SIM115 - lives as long as the process
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "triage.cli", "--home", str(self.home), "serve", "--port", str(self.port)],
            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "TRIAGE_LOG_LEVEL": "WARNING"},
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {(self.home / 'server.log').read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1, verify=TLS).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError("server did not start")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)

    def client(self, role: str | None = None, **kw) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.keys[role]}"} if role else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30, verify=TLS, **kw)


def make_keys(home: Path) -> dict[str, str]:
    """One key per role, created in-process (the CLI path is tested in tests/cli)."""
    from triage.access.keys import KeyStore, Role
    from triage.settings import Settings
    from triage.storage.database import Database

    store = KeyStore(Database(Settings(home=home).store_path))
    return {role: store.create(name=f"test-{role}", role=Role(role)).secret for role in ROLES}


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server for the API tests that only add data (tests that restart or kill start their own)."""
    home = tmp_path_factory.mktemp("api-home")
    srv = Server(home, free_port())
    srv.keys = make_keys(home)
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def cli():
    """Run ``triage --home HOME ...`` in a subprocess."""
    return triage


@pytest.fixture
def server_factory() -> Iterator:
    """Start servers in given homes (stopped at the end of the test)."""
    started: list[Server] = []

    def make(home: Path) -> Server:
        home.mkdir(parents=True, exist_ok=True)
        srv = Server(home, free_port())
        srv.keys = make_keys(home)
        srv.start()
        started.append(srv)
        return srv

    yield make
    for srv in started:
        srv.stop()
