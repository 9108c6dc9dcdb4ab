"""Load on a real `triage serve`: POST /v1/diagnose with real log lines vs GET /healthz, same run.

    .venv/bin/python benchmarks/api_load.py [--seconds 20] [--requests 40000] [--concurrency 16] [--rate 1000]

Starts the server in a fresh temporary home (so results don't depend on local state), creates a service
key, warms up, then measures /healthz (the ceiling: routing + JSON on this machine) and /v1/diagnose,
both closed loop (maximum throughput), and /v1/diagnose at a fixed rate (open loop: the latency a service
sees while the scorer handles that many diagnoses per second; see loadgen.py).
Prints requests/s, p50 and p99 latency, errors, the server's CPU per request (with any child process), and
the diagnose/healthz throughput ratio; ``--thread-cpu`` adds the CPU per request of each server thread (by its
OS name: triage-journal, triage-writer, ...), and ``--profile F [--profile-fixed]`` records a py-spy profile.
Targets (issue 5): ≥ 1,000 diagnoses/s, p99 ≤ 25 ms, ratio ≥ 0.3. The load generator shares the 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from loadgen import LoadResult, build_request, run_load

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"


def real_messages(data: Path, limit: int = 4000) -> list[tuple[str, str, str]]:
    """(service, level, message) from the Loghub 2k samples that carry a level (WARN/ERROR/FATAL first)."""
    found: list[tuple[str, str, str]] = []
    logs = sorted((data / "loghub2k").glob("*/*_2k.log")) if data.exists() else []
    logs = logs or sorted((REPO / "data" / "samples").rglob("*.log"))
    for log in logs:
        service = log.stem.replace("_2k", "").lower()
        for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
            level = next((w for w in ("FATAL", "ERROR", "WARN", "INFO") if f" {w} " in line), "ERROR")
            message = line.split(": ", 1)[-1].strip() or line.strip()
            if message:
                found.append((service, level, message[:2000]))
    found.sort(key=lambda t: t[1] == "INFO")  # errors first
    return found[:limit]


def _stat_fields(path: Path) -> tuple[str, list[str]] | None:
    """(command name, the fields after it) of a /proc stat file, or None if it is gone."""
    try:
        head, tail = path.read_text().rsplit(")", 1)
    except OSError:
        return None
    return head.split("(", 1)[1], tail.split()


def _children(pid: int) -> list[int]:
    """The server's child processes (its journal process)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        parsed = _stat_fields(stat)
        if parsed is not None and parsed[1][1] == str(pid):
            found.append(int(stat.parent.name))
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU time so far of a process (all its threads) and its children, from /proc."""
    total = 0.0
    for p in (pid, *_children(pid)):
        parsed = _stat_fields(Path(f"/proc/{p}/stat"))
        if parsed is not None:
            total += (int(parsed[1][11]) + int(parsed[1][12])) / os.sysconf("SC_CLK_TCK")
    return total


def thread_cpu_seconds(pid: int) -> dict[str, float]:
    """CPU seconds so far of each thread of a process and its children, by thread name (same names add up;
    a child's threads are named ``child:NAME``)."""
    spent: dict[str, float] = {}
    for p in (pid, *_children(pid)):
        prefix = "" if p == pid else "child:"
        for stat in Path(f"/proc/{p}/task").glob("*/stat"):
            parsed = _stat_fields(stat)
            if parsed is not None:
                name = prefix + parsed[0]
                spent[name] = spent.get(name, 0.0) + (int(parsed[1][11]) + int(parsed[1][12])) / os.sysconf("SC_CLK_TCK")
    return spent


THREAD_CPU: dict[str, dict[str, float]] = {}  # load name -> thread name -> CPU ms per request (--thread-cpu)


def measured(pid: int, run, per_thread: bool = False) -> tuple[LoadResult, float]:
    """Run a load and return it with the server's CPU milliseconds per request during it."""
    before = cpu_seconds(pid)
    threads_before = thread_cpu_seconds(pid) if per_thread else {}
    result = run()
    spent = cpu_seconds(pid) - before
    if per_thread and result.requests:
        after = thread_cpu_seconds(pid)
        shares = THREAD_CPU.setdefault(result.name, {})
        for name, seconds in after.items():
            shares[name] = shares.get(name, 0.0) + (seconds - threads_before.get(name, 0.0)) * 1000 / result.requests
    return result, (spent * 1000 / result.requests if result.requests else float("nan"))


def pooled(runs: list[tuple[LoadResult, float]]) -> tuple[LoadResult, float]:
    """Several runs of one endpoint as one: requests and seconds add up, latencies pool."""
    first = runs[0][0]
    requests = sum(r.requests for r, _ in runs)
    statuses: dict[int, int] = {}
    for r, _ in runs:
        for status, n in r.statuses.items():
            statuses[status] = statuses.get(status, 0) + n
    cpu = sum(c * r.requests for r, c in runs) / requests if requests else float("nan")
    result = LoadResult(first.name, requests, sum(r.errors for r, _ in runs), sum(r.seconds for r, _ in runs),
                        tuple(x for r, _ in runs for x in r.latencies_ms), statuses)
    return result, cpu


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--requests", type=int, default=60_000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=1,
                        help="alternate /healthz and /v1/diagnose this many times and pool the results")
    parser.add_argument("--rate", type=float, default=1000.0,
                        help="also send diagnoses at this fixed rate per second (open loop, latency from when each "
                             "request was due) and report its percentiles; 0 skips it")
    parser.add_argument("--data", type=Path, default=SHARED)
    parser.add_argument("--profile", type=Path, default=None,
                        help="write a py-spy raw profile of the server during the diagnose run here "
                             "(needs py-spy; see --py-spy)")
    parser.add_argument("--py-spy", default="py-spy", help="the py-spy executable")
    parser.add_argument("--profile-gil", action="store_true", help="profile only the thread holding the GIL")
    parser.add_argument("--thread-cpu", action="store_true",
                        help="also print the server's CPU per request by thread (Linux /proc)")
    parser.add_argument("--profile-fixed", action="store_true",
                        help="profile the fixed-rate run instead of the closed-loop diagnose run")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="triage-load-"))
    triage = [sys.executable, "-m", "triage.cli", "--home", str(home)]
    key = subprocess.run([*triage, "keys", "create", "--role", "service", "--name", "load"],
                         capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
    port = free_port()
    server = subprocess.Popen([*triage, "serve", "--port", str(port)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, env={**os.environ, "TRIAGE_LOG_LEVEL": "WARNING"})
    try:
        for _ in range(600):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        messages = real_messages(args.data)
        rng = random.Random(7)
        t0 = datetime.now(UTC) - timedelta(hours=1)
        host = f"127.0.0.1:{port}"
        auth = {"Authorization": f"Bearer {key}"}
        diagnose = []
        for i in range(2000):
            service, level, message = messages[rng.randrange(len(messages))]
            body = json.dumps({"service": service, "level": level, "message": message,
                               "timestamp": (t0 + timedelta(milliseconds=i * 50)).isoformat()}).encode()
            diagnose.append(build_request("POST", "/v1/diagnose", host, body, auth))
        health = [build_request("GET", "/healthz", host)]

        run_load("warm-up", "127.0.0.1", port, diagnose, total=3000, seconds=10, concurrency=4)
        load_before = os.getloadavg()[0]
        fixed = f"POST /v1/diagnose at {args.rate:,.0f}/s (fixed rate)"
        rounds: dict[str, list[tuple[LoadResult, float]]] = {"GET /healthz": [], "POST /v1/diagnose": []}
        loads = [("GET /healthz", health, None), ("POST /v1/diagnose", diagnose, None)]
        if args.rate:
            rounds[fixed] = []
            loads.append((fixed, diagnose, args.rate))
        for round_no in range(args.rounds):  # alternate, so a change in the machine's load hits each
            for name, requests, rate in loads:
                profiler = None
                if args.profile and name == (fixed if args.profile_fixed else "POST /v1/diagnose") and round_no == 0:
                    profiler = subprocess.Popen(
                        [args.py_spy, "record", "-p", str(server.pid), "-r", "50", "-f", "raw", "-o",
                         str(args.profile), "-d", str(int(args.seconds) + 1), "--threads",
                         *(["--gil"] if args.profile_gil else [])],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                    time.sleep(1.0)  # let it attach
                rounds[name].append(measured(server.pid, lambda name=name, requests=requests, rate=rate: run_load(
                    name, "127.0.0.1", port, requests, total=args.requests, seconds=args.seconds,
                    concurrency=args.concurrency, rate=rate), args.thread_cpu))
                if profiler is not None:
                    profiler.wait(60)
        load_after = os.getloadavg()[0]
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(60)
        shutil.rmtree(home, ignore_errors=True)

    print(f"\nmachine: {os.cpu_count()} cores; server: 1 uvicorn worker; load: {args.concurrency} connections, "
          f"≤ {args.seconds:.0f} s or {args.requests} requests each, {args.rounds} round(s) alternating")
    print(f"load average (1 min) before / after the measured runs: {load_before:.1f} / {load_after:.1f}")
    print("| endpoint | requests | req/s | p50 ms | p99 ms | errors | server CPU ms/request (with its child) |")
    print("|---|---|---|---|---|---|---|")
    runs = [pooled(results) for results in rounds.values()]
    results = [r for r, _ in runs]
    for r, cpu in runs:
        print(f"| {r.name} | {r.requests} | {r.rate:,.0f} | {r.p50:.2f} | {r.percentile(99):.2f} | {r.errors} "
              f"| {cpu:.3f} |")
    if THREAD_CPU:
        print("\nserver CPU ms per request by thread (summed over rounds' requests):")
        for name, shares in THREAD_CPU.items():
            rounds_run = len(rounds[name]) if name in rounds else 1
            top = sorted(shares.items(), key=lambda kv: -kv[1])
            print(f"  {name}: " + ", ".join(f"{t} {v / rounds_run:.3f}" for t, v in top if v / rounds_run >= 0.005))
    ratio = results[1].rate / results[0].rate if results[0].rate else 0.0
    print(f"\ndiagnose / healthz throughput ratio (closed loop): {ratio:.2f}")
    if args.rate:
        print(f"fixed rate: {args.rate:,.0f}/s asked, {results[2].rate:,.0f}/s served; latency counted from when each "
              "request was due")


if __name__ == "__main__":
    main()
