"""Reading in a child process: the batches it sends are the batches read in-process, and it fails cleanly."""

from __future__ import annotations

import fcntl
import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from triage.errors import IntegrityError, InvalidInput
from triage.ingest.batches import ReadBatch, ReadJob, decode_batch, encode_batch, read_batches, read_frame
from triage.ingest.presets import format_spec
from triage.ingest.reader_process import (
    MIN_PROCESS_BYTES,
    PIPE_BYTES,
    InlineReader,
    ReaderFailed,
    ReaderPool,
    ReaderProcess,
    _widen_pipe,
    reader_processes,
)

from ._support import HANDWRITTEN, LOGHUB

MESSY = LOGHUB.parent / "messy" / "messy_log4j.log"


def _job(
    path: Path, fmt: str, *, batch_lines: int = 37, start_offset: int = 0, start_line: int = 0
) -> ReadJob:
    return ReadJob(
        path=str(path),
        label=path.name,
        spec=format_spec(fmt).model_dump_json(exclude_none=True),
        service=None,
        written_at=1_700_000_000.0,
        start_offset=start_offset,
        start_line=start_line,
        batch_lines=batch_lines,
        batch_seconds=60.0,
    )


def _plain(batch: ReadBatch) -> tuple:
    return (
        batch.rows.to_pylist(),
        [(q.source, q.line_no, q.raw, q.reason, q.end_offset) for q in batch.quarantined],
        batch.start_offset,
        batch.end_offset,
        batch.end_line,
        batch.lines,
        batch.merged,
    )


@pytest.fixture
def mixed_log(tmp_path: Path) -> Path:
    """Multi-line records, an orphan continuation, binary and unmatched lines, CRLF, no final newline."""
    lines = [
        b"   at orphan.continuation(Foo.java:1)\n",
        b"2024-01-02 10:00:00,123 ERROR [main] com.x.Service - failed for user john.doe@example.com\n",
        b"java.lang.IllegalStateException: boom\n",
        b"\tat com.x.Service.run(Service.java:42)\n",
        b"\n",
        b"2024-01-02 10:00:01,000 INFO [main] com.x.Service - ok\n",
        b"\x00\x01\x02binary\xff\xfe\n",
        b"garbage line without a header\n",
        b"2024-01-02 10:00:02,000 WARN [w-1] com.x.Other - slow 123 ms\r\n",
    ]
    path = tmp_path / "mixed.log"
    path.write_bytes(b"".join(lines * 20) + b"2024-01-02 10:00:03,000 WARN [w-1] com.x.Other - last")
    return path


def test_frames_carry_batches_unchanged(mixed_log: Path) -> None:
    batches = list(read_batches(_job(mixed_log, "log4j")))
    assert any(b.quarantined for b in batches) and any(b.merged for b in batches)
    stream = io.BytesIO()
    for batch in batches:
        encode_batch(stream, batch)
    stream.seek(0)
    decoded = []
    while (header := read_frame(stream)) is not None:
        decoded.append(decode_batch(stream, header, mixed_log.name))
    assert [_plain(b) for b in decoded] == [_plain(b) for b in batches]
    assert sum(b.lines for b in batches) == mixed_log.read_bytes().count(b"\n") + 1


def test_a_torn_frame_is_an_error_not_a_short_batch(mixed_log: Path) -> None:
    stream = io.BytesIO()
    encode_batch(stream, next(read_batches(_job(mixed_log, "log4j"))))
    torn = io.BytesIO(stream.getvalue()[:-10])
    header = read_frame(torn)
    assert header is not None
    with pytest.raises(EOFError):
        decode_batch(torn, header, "x")


def test_the_first_batch_may_be_smaller(mixed_log: Path) -> None:
    from dataclasses import replace

    job = replace(_job(mixed_log, "log4j", batch_lines=50), first_batch_lines=5)
    lines = [b.lines for b in read_batches(job)]
    assert lines[0] < 50 and all(n >= 50 for n in lines[1:-1])


def test_a_reader_process_reads_what_this_process_reads(mixed_log: Path) -> None:
    jobs = [
        _job(mixed_log, "log4j"),
        _job(LOGHUB / "HDFS_100.log", "hdfs", batch_lines=30),
        _job(HANDWRITTEN / "app.jsonl", "json", batch_lines=3),
        _job(MESSY, "log4j", batch_lines=11),
    ]
    # a resume point: the second batch of HDFS onwards
    second = next(iter(read_batches(jobs[1])))
    jobs.append(
        _job(LOGHUB / "HDFS_100.log", "hdfs", start_offset=second.end_offset, start_line=second.end_line)
    )
    expected = [[_plain(b) for b in read_batches(job)] for job in jobs]
    for reader in (InlineReader(), ReaderPool(1), ReaderPool(2)):
        with reader:
            got = []
            for job in jobs:
                reader.submit(job)  # all submitted ahead of taking, as the ingest job may
            for _ in jobs:
                got.append([_plain(b) for b in reader.take()])
        assert got == expected, type(reader).__name__


def test_a_domain_error_in_the_child_is_raised_in_the_parent(mixed_log: Path) -> None:
    with ReaderProcess() as reader:
        reader.submit(_job(mixed_log, "log4j", start_offset=5, start_line=0))  # not the start of a line
        with pytest.raises(InvalidInput, match="not at the start of a line"):
            list(reader.take())
        with pytest.raises(ReaderFailed, match="failed earlier"):
            reader.submit(_job(mixed_log, "log4j"))


def test_a_reader_process_that_dies_is_a_clear_error(tmp_path: Path) -> None:
    big = tmp_path / "big.log"
    big.write_bytes((LOGHUB / "HDFS_100.log").read_bytes() * 200)  # 20,000 lines
    with ReaderProcess() as reader:
        reader.submit(_job(big, "hdfs", batch_lines=100))
        batches = reader.take()
        first = next(batches)
        assert first.lines == 100
        os.kill(reader.pid, signal.SIGKILL)
        with pytest.raises(ReaderFailed, match=r"exit code -9"):
            for _ in batches:
                pass


@pytest.mark.xfail(not hasattr(fcntl, "F_GETPIPE_SZ"), reason="pipe sizes are a Linux feature", strict=True)
def test_the_child_writes_into_a_wide_pipe_and_runs_without_pydantic_plugins() -> None:
    with ReaderProcess() as reader:
        stdout = reader._proc.stdout
        assert stdout is not None
        allowed = int(Path("/proc/sys/fs/pipe-max-size").read_text())
        assert fcntl.fcntl(stdout.fileno(), fcntl.F_GETPIPE_SZ) >= min(PIPE_BYTES, allowed)
        assert b"PYDANTIC_DISABLE_PLUGINS=__all__" in _environ(reader)


def _environ(reader: ReaderProcess, timeout: float = 10.0) -> list[bytes]:
    """The child's environment. Popen returns once the exec has closed the child's inherited descriptors,
    which is before the kernel has laid out the new program's environment: until then (a busy machine
    makes that visible) /proc shows it empty."""
    deadline = time.monotonic() + timeout
    while True:
        environ = Path(f"/proc/{reader.pid}/environ").read_bytes()
        if environ or time.monotonic() > deadline:
            return environ.split(b"\0")
        assert reader._proc.poll() is None, f"the reader process exited with {reader._proc.returncode}"
        time.sleep(0.01)


def test_widening_a_pipe_is_best_effort(tmp_path: Path) -> None:
    with open(tmp_path / "not-a-pipe", "wb") as f:
        _widen_pipe(f)  # the kernel refuses (not a pipe): reading goes on with the pipe it has


def test_reading_stays_in_process_with_one_cpu_or_little_to_read() -> None:
    assert reader_processes("inline", [MIN_PROCESS_BYTES * 4]) == 0
    assert reader_processes("auto", [MIN_PROCESS_BYTES // 2]) == 0
    assert reader_processes("process", [10]) == 1  # asked for: at least one, even for a small file
    with pytest.raises(InvalidInput, match="auto, process or inline"):
        reader_processes("threads", [10])
    # a real single-CPU affinity (as under taskset -c 0 or a 1-CPU container), in a fresh process
    code = (
        "import os; os.sched_setaffinity(0, {min(os.sched_getaffinity(0))});"
        "from triage.ingest.reader_process import reader_processes, MIN_PROCESS_BYTES;"
        "print(reader_processes('auto', [MIN_PROCESS_BYTES * 4, MIN_PROCESS_BYTES * 4]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "0"


def test_the_reader_reports_a_gap_in_line_numbers(tmp_path: Path) -> None:
    """The batching checks the reader's contract (each item starts on the line after the last)."""
    from triage.ingest.batches import _batches

    job = _job(tmp_path / "x.log", "hdfs")
    rows = [(1, "a", None, None, None, None, None, 1, 10), (3, "b", None, None, None, None, None, 1, 20)]
    with pytest.raises(IntegrityError, match="from line 1 to 3"):
        list(_batches(iter(rows), job))


def test_pandas_unavailable_blocks_the_import_inside_only() -> None:
    code = (
        "from triage.ingest.reader_process import pandas_unavailable\n"
        "with pandas_unavailable():\n"
        "    try:\n"
        "        import pandas\n"
        "        print('imported')\n"
        "    except ImportError:\n"
        "        print('blocked')\n"
        "import pandas\n"
        "with pandas_unavailable():\n"
        "    import pandas.api  # already imported: nothing is blocked\n"
        "print('after', pandas.__name__)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.stdout.split() == ["blocked", "after", "pandas"], proc.stderr


def test_pandas_unavailable_with_numpy_starts_pyarrow_without_numpy() -> None:
    """Asked to, numpy is kept out too while pyarrow is first imported (the reader process; a ``triage
    ingest`` process of its own); pandas still imports afterwards. Once pyarrow is in, numpy is not blocked."""
    code = (
        "import sys\n"
        "from triage.ingest.reader_process import pandas_unavailable\n"
        "with pandas_unavailable(numpy=True):\n"
        "    import pyarrow as pa\n"
        "    import pyarrow.compute as pc\n"
        "    print(pc.fill_null(pa.array([1, None]), 0).to_pylist(), 'numpy' in sys.modules)\n"
        "with pandas_unavailable(numpy=True):\n"
        "    import numpy  # pyarrow is already imported: only pandas is kept out\n"
        "print('after', numpy.__name__)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.stdout.split() == ["[1,", "0]", "False", "after", "numpy"], proc.stderr


def test_after_pandas_unavailable_pyarrow_still_converts_to_pandas() -> None:
    code = (
        "import pyarrow as pa\n"
        "from triage.ingest.reader_process import pandas_unavailable\n"
        "with pandas_unavailable():\n"
        "    pa.array([1, 2])  # pyarrow looks for pandas here, and does not find it\n"
        "print(type(pa.table({'a': [1]}).to_pandas()).__name__)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.stdout.strip() == "DataFrame", proc.stderr
