"""Ingest throughput: end-to-end `triage ingest` against bare Drain3 on the same lines, in the same run.

    .venv/bin/python benchmarks/ingest_throughput.py                               # >= 320k lines
    .venv/bin/python benchmarks/ingest_throughput.py --no-compare --memory 1000000,10000000

The corpus is built in a temporary folder from the Loghub 2k samples (``../shared/data/loghub2k`` beside
the checkout, or ``--data DIR``): each of the 8 systems' 2,000 lines repeated until the corpus has at
least ``--lines`` lines, one file per system. Then, on those same lines:

* **bare Drain3**: one ``drain3.TemplateMiner`` (default config, no persistence) fed every line with
  ``add_log_message``; the lines are already decoded in memory and only that loop is timed. A second row
  feeds it only the message part (Loghub's ``Content`` column), what Drain is usually given after a
  header regex has been applied (the regex itself not timed).
* **triage ingest**: ``python -m triage.cli --home <fresh> ingest <corpus dir> --json`` in a subprocess,
  timed from process start to exit: interpreter start, imports, format detection, reading, multi-line
  joining, redaction, masking, mining, Arrow batches, DuckDB commits with their parser state. With two
  or more CPUs, files are read by a reader process (``triage.ingest.reader_process``) while the ingest
  process parses and commits; its CPU time is included (``os.wait4`` counts waited-for descendants).

Both wall-clock and CPU seconds are printed (CPU: ``time.process_time`` of the loop; user+sys of the
ingest process from ``os.wait4``), because the machine may be shared: CPU time is less sensitive to other
load, wall time is what a user waits.

``--memory N,M,...`` ingests one file of each line count (blocks of 2,000 lines of each system in turn,
so templates stop growing early) and prints the peak RSS of each ingest process, and of it together with
its reader process (sampled): neither should grow with the file.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SYSTEMS = ("HDFS", "Hadoop", "Spark", "Zookeeper", "BGL", "HPC", "Linux", "OpenSSH")


@dataclass(frozen=True)
class Timing:
    wall: float
    cpu: float


def sample_lines(data: Path, system: str) -> list[bytes]:
    """The raw physical lines (bytes, newline included) of one Loghub 2k sample."""
    lines = (data / "loghub2k" / system / f"{system}_2k.log").read_bytes().splitlines(keepends=True)
    if not lines[-1].endswith(b"\n"):
        lines[-1] += b"\r\n"  # the sample's last line has no newline; repeats must not glue two lines
    return lines


def sample_contents(data: Path, system: str) -> list[str]:
    with open(
        data / "loghub2k" / system / f"{system}_2k.log_structured.csv", encoding="utf-8", newline=""
    ) as f:
        return [row["Content"] for row in csv.DictReader(f)]


def build_corpus(data: Path, folder: Path, min_lines: int) -> tuple[list[Path], int]:
    repeats = -(-min_lines // (2000 * len(SYSTEMS)))
    files = []
    for system in SYSTEMS:
        lines = sample_lines(data, system)
        path = folder / f"{system}.log"
        with open(path, "wb") as out:
            for _ in range(repeats):
                out.writelines(lines)
        files.append(path)
    return files, repeats * 2000 * len(SYSTEMS)


def mixed_file(data: Path, path: Path, n_lines: int) -> None:
    """One file of ``n_lines``: blocks of 2,000 lines of each system in turn."""
    blocks = [sample_lines(data, s) for s in SYSTEMS]
    written, k = 0, 0
    with open(path, "wb") as out:
        while written < n_lines:
            block = blocks[k % len(blocks)][: n_lines - written]
            out.writelines(block)
            written += len(block)
            k += 1


def bare_drain(lines: list[str]) -> Timing:
    from drain3 import TemplateMiner
    from drain3.template_miner_config import TemplateMinerConfig

    logging.disable(logging.WARNING)
    add = TemplateMiner(config=TemplateMinerConfig()).add_log_message
    wall, cpu = time.perf_counter(), time.process_time()
    for line in lines:
        add(line)
    return Timing(time.perf_counter() - wall, time.process_time() - cpu)


def run_ingest(
    home: Path, target: Path, read_latencies: list[float] | None = None
) -> tuple[dict, Timing, int, int]:
    """(the --json report, timing, peak RSS in MiB, peak RSS of the process tree in MiB) of one `triage ingest`
    process. Timing and peak RSS come from os.wait4 on its pid: CPU includes its reader processes, but the
    peak RSS is that of the largest process of the tree, so the tree's (the ingest process and its reader
    processes together) is also sampled from /proc every 0.1 s.

    With ``read_latencies``, a thread meanwhile reads the store every 0.1 s the way the scorer and notebooks
    do (open read-only under the shared lock, one query, close) and appends how long each read took."""
    cmd = [sys.executable, "-m", "triage.cli", "--home", str(home), "ingest", str(target), "--json"]
    out_path = home.parent / f"{home.name}.out"
    done = threading.Event()
    reader = None
    if read_latencies is not None:
        reader = threading.Thread(target=_read_while, args=(home, done, read_latencies), daemon=True)
        reader.start()
    tree_peak = [0]
    started = time.perf_counter()
    with open(out_path, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=REPO)
        sampler = threading.Thread(target=_sample_tree, args=(proc.pid, done, tree_peak), daemon=True)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    done.set()
    sampler.join()
    if reader is not None:
        reader.join()
    text = out_path.read_text(errors="replace").strip()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"triage ingest failed: {text[-500:]}")
    return (
        json.loads(text.splitlines()[-1]),
        Timing(wall, usage.ru_utime + usage.ru_stime),
        usage.ru_maxrss // 1024,
        tree_peak[0] // 1024,
    )


def _tree_rss_kib(pid: int) -> int:
    """Resident KiB of a process and its descendants, from /proc (0 once it is gone)."""
    total = 0
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total = int(line.split()[1])
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except (OSError, ValueError):
        return total
    return total + sum(_tree_rss_kib(int(child)) for child in children)


def _sample_tree(pid: int, done: threading.Event, peak: list[int]) -> None:
    while not done.is_set():
        peak[0] = max(peak[0], _tree_rss_kib(pid))
        time.sleep(0.1)


def _read_while(home: Path, done: threading.Event, latencies: list[float]) -> None:
    from triage.settings import Settings
    from triage.storage.database import Database, StorageError

    db = Database(Settings(home=home).store_path)
    while not done.is_set():
        started = time.perf_counter()
        try:
            with db.read() as session:
                if session.table_exists("events"):
                    session.scalar("SELECT count(*) FROM events")
            latencies.append(time.perf_counter() - started)
        except StorageError:  # not created yet
            pass
        time.sleep(0.1)


def _runs(home: Path) -> dict:
    from triage.features.store import FeatureStore
    from triage.settings import Settings

    return FeatureStore(Settings(home=home)).ingest_runs().iloc[-1].to_dict()


def compare(data: Path, tmpdir: Path, min_lines: int) -> None:
    corpus = tmpdir / "corpus"
    corpus.mkdir()
    files, n = build_corpus(data, corpus, min_lines)
    size_mib = sum(f.stat().st_size for f in files) / 2**20
    raw = [
        line.decode("utf-8", "replace").rstrip("\r\n") for f in files for line in f.read_bytes().splitlines()
    ]
    assert len(raw) == n, (len(raw), n)
    repeats = n // (2000 * len(SYSTEMS))
    contents = [c for s in SYSTEMS for c in sample_contents(data, s) * repeats]

    bare_raw = bare_drain(raw)
    bare_content = bare_drain(contents)
    del raw, contents
    latencies: list[float] = []
    report, ours, rss, tree_rss = run_ingest(tmpdir / "home", corpus, latencies)
    assert report["lines"] == n, report
    assert report["events"] + report["merged"] + report["quarantined"] == report["lines"], report

    print(f"corpus: {n:,} lines ({size_mib:.0f} MiB): {len(SYSTEMS)} Loghub 2k systems x {repeats} repeats")
    print(f"triage ingest --json: {json.dumps(report)}  (peak RSS {rss} MiB; process tree {tree_rss} MiB)")
    print()
    print(
        "| pipeline | wall s | lines/s (wall) | CPU s | lines/s (CPU) | triage / this (wall) | triage / this (CPU) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    rows = (
        ("bare Drain3 `add_log_message`, whole lines", bare_raw),
        ("bare Drain3 `add_log_message`, message part only", bare_content),
        ("**`triage ingest`**, end to end (new process, fresh home)", ours),
    )
    for name, t in rows:
        ratio = "" if t is ours else f"{t.wall / ours.wall:.2f} | {t.cpu / ours.cpu:.2f}"
        print(
            f"| {name} | {t.wall:.2f} | {n / t.wall:,.0f} | {t.cpu:.2f} | {n / t.cpu:,.0f} | {ratio or ' | '} |"
        )
    runs = _runs(tmpdir / "home")
    print()
    print(
        f"write-lock holds by the ingest: {runs['commits']} batch commits, mean"
        f" {runs['commit_seconds'] / max(runs['commits'], 1) * 1000:.0f} ms,"
        f" max {runs['max_commit_seconds'] * 1000:.0f} ms"
    )
    if latencies:
        ordered = sorted(latencies)
        p50, p99 = ordered[len(ordered) // 2], ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
        print(
            f"reads of the store by another process during the ingest (every 0.1 s): {len(ordered)} reads,"
            f" p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, max {ordered[-1] * 1000:.0f} ms"
        )


def memory(data: Path, tmpdir: Path, counts: list[int]) -> None:
    print()
    print("| file lines | file MiB | wall s | lines/s | peak RSS (MiB) | process tree (MiB) | store MiB |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for count in counts:
        big = tmpdir / f"mixed_{count}.log"
        mixed_file(data, big, count)
        home = tmpdir / f"home_{count}"
        report, t, rss, tree_rss = run_ingest(home, big)
        assert report["lines"] == count, report
        store_mib = (home / "data" / "processed" / "triage.duckdb").stat().st_size / 2**20
        print(f"| {count:,} | {big.stat().st_size / 2**20:,.0f} | {t.wall:.1f} | {count / t.wall:,.0f} | {rss} |"
              f" {tree_rss} | {store_mib:,.0f} |", flush=True)  # fmt: skip
        big.unlink()
        shutil.rmtree(home)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder holding loghub2k/")
    parser.add_argument("--lines", type=int, default=320_000, help="minimum lines in the comparison corpus")
    parser.add_argument("--memory", default="", help="comma-separated line counts for the peak-RSS runs")
    parser.add_argument("--no-compare", action="store_true", help="skip the triage-vs-Drain3 comparison")
    args = parser.parse_args()
    if not (args.data / "loghub2k").is_dir():
        raise SystemExit(f"no loghub2k/ under {args.data}; pass --data DIR")
    with tempfile.TemporaryDirectory(prefix="triage-ingest-bench-") as tmp:
        if not args.no_compare:
            compare(args.data, Path(tmp), args.lines)
        if args.memory:
            memory(args.data, Path(tmp), [int(x) for x in args.memory.split(",") if x.strip()])


if __name__ == "__main__":
    main()
