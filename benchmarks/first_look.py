"""How soon a new user sees something: `triage run` on a fresh home, timed phase by phase.

    .venv/bin/python benchmarks/first_look.py [--pipeline train] [--replay-speed 10] [--home DIR]

1. `triage run --no-serve --pipeline P` on a fresh temporary home (steps 1-4: samples, champions,
   admin key), timed as a whole.
2. `triage run --port 0 --exit-when-ready` on that home: seconds from process start to `/readyz`
   answering (steps 1-4 find nothing to do), and from the server's start line to `/readyz` answering, to the first incident visible on the command center (polled through
   `/v1/dashboard/summary` with the admin key, as the page does), and to the end of the replay.
3. Baseline, same run and home: `triage serve` from process start to `/readyz` answering.

Target (issue 8): the command center shows the replayed incident within a minute of the server's start.
"""

from __future__ import annotations

import argparse
import os
import queue
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("TRIAGE_")}


def _cli(home: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "triage.cli", "--home", str(home), *args]


def _lines(proc: subprocess.Popen[str]) -> queue.Queue[tuple[float, str]]:
    out: queue.Queue[tuple[float, str]] = queue.Queue()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            out.put((time.monotonic(), line.rstrip("\n")))
        out.put((time.monotonic(), ""))

    threading.Thread(target=read, daemon=True).start()
    return out


def first_look(home: Path, speed: float) -> dict[str, float]:
    started = time.monotonic()
    first = subprocess.run(_cli(home, "run", "--no-serve", "--pipeline", ARGS.pipeline), env=_env(),
                           capture_output=True, text=True)  # fmt: skip
    if first.returncode:
        raise SystemExit(f"setup failed:\n{first.stderr[-2000:]}")
    setup = time.monotonic() - started
    admin = next(line for line in first.stdout.splitlines() if line.startswith("trg_"))

    launched = time.monotonic()
    proc = subprocess.Popen(_cli(home, "run", "--port", "0", "--exit-when-ready", "--replay-speed", str(speed)),
                            env=_env(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)  # fmt: skip
    lines = _lines(proc)
    marks: dict[str, float] = {}
    url = None
    while "replayed" not in marks:
        at, line = lines.get(timeout=600)
        if not line and proc.poll() is not None:
            raise SystemExit(f"triage run exited {proc.returncode} before the replay ended")
        if "starting the API" in line:
            marks["start"] = at
        elif "triage run: ready:" in line:
            marks["ready"] = at
            url = line.split("command center ")[1].split("/ ")[0]
            threading.Thread(target=_watch, args=(url, admin, marks), daemon=True).start()
        elif "triage run: replayed " in line:
            marks["replayed"] = at
    proc.wait(120)
    start = marks["start"]
    return {
        "setup (fresh home, steps 1-4)": setup,
        "triage run (set-up home), process start -> /readyz": marks["ready"] - launched,
        "server start -> /readyz": marks["ready"] - start,
        "server start -> incident on the command center": marks.get("incident", float("nan")) - start,
        "server start -> replay done": marks["replayed"] - start,
    }


def _watch(url: str, key: str, marks: dict[str, float]) -> None:
    headers = {"Authorization": f"Bearer {key}"}
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and "replayed" not in marks:
        try:
            summary = httpx.get(f"{url}/v1/dashboard/summary", headers=headers, timeout=10).json()
            if summary.get("incidents"):
                marks["incident"] = time.monotonic()
                return
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.2)


def serve_baseline(home: Path) -> float:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    started = time.monotonic()
    proc = subprocess.Popen(_cli(home, "serve", "--port", str(port)), env=_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        while time.monotonic() - started < 300:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 200:
                    return time.monotonic() - started
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise SystemExit("triage serve was not ready in 300 s")
    finally:
        proc.terminate()
        proc.wait(60)


def main() -> None:
    parent = Path(ARGS.home) if ARGS.home else Path(tempfile.mkdtemp(prefix="triage-first-look-"))
    home = parent / "home"
    try:
        figures = first_look(home, ARGS.replay_speed)
        figures["baseline: triage serve, process start -> /readyz"] = serve_baseline(home)
    finally:
        if not ARGS.home:
            shutil.rmtree(parent, ignore_errors=True)
    print(f"{'phase':<56} {'seconds':>8}")
    for name, seconds in figures.items():
        print(f"{name:<56} {seconds:8.1f}")
    print(f"(pipeline {ARGS.pipeline}, replay speed {ARGS.replay_speed:g}x, {os.cpu_count()} cores)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pipeline", default="train", help="pipeline that trains the champions (default: train)")
    parser.add_argument("--replay-speed", type=float, default=10.0)
    parser.add_argument("--home", help="keep the home under this folder instead of a temporary one")
    ARGS = parser.parse_args()
    main()
