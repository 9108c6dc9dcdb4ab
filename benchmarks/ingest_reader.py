"""Ingest reader: header-field agreement with Loghub, detection, and reading speed. Prints two tables.

    python benchmarks/ingest_reader.py [--data DIR] [--lines N] [--repeats R]

1. For each Loghub system in ``DIR/loghub2k``: the detected preset (from the first 1000 lines, file
   name hidden) and the share of the 2,000 lines whose header fields and Content equal Loghub's own
   ``*_structured.csv``.
2. Reading speed on each system's 2k log repeated to >= N lines (CRLF kept): ``open_log`` with the
   system's preset (typed records with timestamps, levels, multi-line joining, offsets, quarantine),
   against two baselines measured in the same run on the same file: a bare loop that reads and decodes
   each line (the least any reader must do), and logparser's own header split (``line.strip()``, the
   benchmark's ``.*?`` regex, a list of the field values per line -- what the Loghub tools do). CPU
   seconds (``process_time``), best of R runs, so other processes on the machine disturb the figures less.
"""

from __future__ import annotations

import argparse
import csv
import re
import tempfile
import time
from pathlib import Path

from triage.ingest import LogRecord, compile_format, detect_format, open_log, read_sample
from triage.ingest.presets import FormatSpec

SYSTEMS = {
    "HDFS": "hdfs", "Hadoop": "hadoop", "Spark": "spark", "Zookeeper": "zookeeper",
    "BGL": "bgl", "HPC": "hpc", "Linux": "linux", "OpenSSH": "openssh",
}
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def agreement(log: Path, structured: Path, preset: str) -> tuple[int, int, int]:
    with open(structured, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    items = list(open_log(log, preset))
    records = [i for i in items if isinstance(i, LogRecord)]
    same = 0
    for record, row in zip(records, rows, strict=False):
        expected = {k: v for k, v in row.items() if k not in ("LineId", "EventId", "EventTemplate", "Content")}
        same += dict(record.fields) == expected and record.content == row["Content"]
    return same, len(rows), len(items) - len(records)


def best_of(repeats: int, fn) -> float:  # type: ignore[no-untyped-def]
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        fn()
        best = min(best, time.process_time() - start)
    return best


def baseline(path: Path) -> int:
    n = 0
    with open(path, "rb", buffering=1 << 20) as f:
        for raw in f:
            raw.decode("utf-8", "replace").rstrip()
            n += 1
    return n


def loghub_regex(logformat: str) -> tuple[list[str], re.Pattern[str]]:
    """logparser's generate_logformat_regex."""
    headers: list[str] = []
    regex = ""
    for k, part in enumerate(re.split(r"(<[^<>]+>)", logformat)):
        if k % 2 == 0:
            regex += re.sub(" +", "\\\\s+", part)
        else:
            header = part.strip("<").strip(">")
            regex += f"(?P<{header}>.*?)"
            headers.append(header)
    return headers, re.compile("^" + regex + "$")


def logparser_split(path: Path, logformat: str) -> int:
    headers, regex = loghub_regex(logformat)
    n = 0
    rows = []
    with open(path, "rb", buffering=1 << 20) as f:
        for raw in f:
            m = regex.search(raw.decode("utf-8", "replace").strip())
            if m:
                rows.append([m.group(h) for h in headers])
                n += 1
            if len(rows) >= 10_000:  # logparser keeps every row; we keep memory flat
                rows.clear()
    return n


def read_all(path: Path, preset: str) -> int:
    n = 0
    with open_log(path, preset) as reader:
        for item in reader:
            n += item.n_lines
    return n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder holding loghub2k/")
    parser.add_argument("--lines", type=int, default=200_000, help="lines per system for the speed table")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    root = args.data / "loghub2k"

    print("| system | detected | fields = Loghub | quarantined |")
    print("|---|---|---|---|")
    for system, preset in SYSTEMS.items():
        log = root / system / f"{system}_2k.log"
        detected = detect_format(read_sample(log)).label
        same, total, quarantined = agreement(log, root / system / f"{system}_2k.log_structured.csv", preset)
        mark = "" if detected == preset else " (WRONG)"
        print(f"| {system} | {detected}{mark} | {same}/{total} | {quarantined} |")

    print()
    print("| system | lines | read+decode lines/s | logparser split lines/s | triage reader lines/s "
          "| reader / logparser split |")
    print("|---|---|---|---|---|---|")
    total_lines = total_base = total_split = total_read = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for system, preset in SYSTEMS.items():
            data = (root / system / f"{system}_2k.log").read_bytes()
            if not data.endswith(b"\n"):
                data += b"\r\n"
            copies = -(-args.lines // data.count(b"\n"))
            path = Path(tmp) / f"{system}.log"
            path.write_bytes(data * copies)
            logformat = compile_format(FormatSpec(preset=preset)).matcher.format  # type: ignore[union-attr]
            n = baseline(path)
            assert read_all(path, preset) == n == logparser_split(path, logformat)
            t_base = best_of(args.repeats, lambda p=path: baseline(p))
            t_split = best_of(args.repeats, lambda p=path, f=logformat: logparser_split(p, f))
            t_read = best_of(args.repeats, lambda p=path, f=preset: read_all(p, f))
            total_lines += n
            total_base += t_base
            total_split += t_split
            total_read += t_read
            print(f"| {system} | {n:,} | {n / t_base:,.0f} | {n / t_split:,.0f} | {n / t_read:,.0f} "
                  f"| {t_split / t_read:.2f} |")
            path.unlink()
    print(f"| all | {total_lines:,.0f} | {total_lines / total_base:,.0f} | {total_lines / total_split:,.0f} "
          f"| {total_lines / total_read:,.0f} | {total_split / total_read:.2f} |")


if __name__ == "__main__":
    main()
