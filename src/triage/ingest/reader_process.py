"""Reading on a second core: a child process runs :func:`~triage.ingest.batches.read_batches` for the
ingest job while the job's process parses (mines templates, in file order) and commits.

Reading -- decoding, header regex, timestamps, multi-line joining, building the Arrow columns -- is about
a third of an ingest's CPU and needs nothing from the parser, so it can run ahead. Mining stays in the
job's process, strictly in file order, so the events, templates and parser state are exactly those of
reading in-process (:class:`InlineReader`, used when only one CPU is available or the input is small).

Protocol (the child is ours; nothing is unpickled): the parent writes one :class:`ReadJob` per line
(JSON) to the child's stdin; the child answers each job with ``"batch"`` frames (a JSON header, the
rows and quarantined lines as Arrow IPC streams: :mod:`triage.ingest.batches`) and one ``"end"`` frame,
or an ``"error"`` frame naming a domain error (``InvalidInput``, ``IntegrityError``), after which it
stops. It exits when its stdin closes. In the parent a thread per child reads its frames in order and
holds up to PREFETCH_BATCHES decoded batches, so the child reads ahead of the parser by that much (and
what the pipe holds), and memory stays bounded.

Failure: a domain error in the child is raised again in the parent with its message; a child that dies
(killed, crashed) raises :class:`ReaderFailed` with its exit code and the last line it wrote to stderr.
Either way the parent has only ever received whole batches, so nothing half-read reaches the store.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import queue
import subprocess
import sys
import tempfile
import threading
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, NoReturn, Protocol, Self

from triage.errors import IntegrityError, InvalidInput, TriageError
from triage.heap import settle_heap
from triage.ingest.batches import (
    ReadBatch,
    ReadJob,
    decode_batch,
    encode_batch,
    read_batches,
    read_frame,
    write_frame,
)

#: Below this many bytes to read, reading in-process is cheaper than starting a process (≈ 0.3 s of CPU).
MIN_PROCESS_BYTES = 8 << 20
#: Reader processes at most (each costs ≈ 0.25 s of CPU to start; more than the CPUs only compete).
MAX_PROCESSES = 4
#: Decoded batches a reader process's frame thread holds for the parent (bounds memory with the batch size).
PREFETCH_BATCHES = 2
#: The size asked for the child's output pipe (Linux's default is 64 KiB; 1 MiB is its default maximum).
PIPE_BYTES = 1 << 20
#: How long ``close`` waits for the child to exit after its stdin closed, before killing it.
EXIT_TIMEOUT = 10.0
#: Domain errors the child reports by name and the parent raises again.
_ERRORS: dict[str, type[TriageError]] = {"InvalidInput": InvalidInput, "IntegrityError": IntegrityError}


class ReaderFailed(TriageError):
    """The reader process died or broke the protocol; nothing after its last whole batch was used."""


class Reader(Protocol):
    """Reads submitted jobs in order: ``submit`` may run ahead of ``take``, which yields the batches of the
    oldest job not yet taken. ``ahead``: how many jobs are worth submitting beyond the one being taken;
    ``concurrent``: whether jobs are read while the caller works (in other processes)."""

    ahead: int
    concurrent: bool

    def submit(self, job: ReadJob) -> None: ...

    def take(self) -> Iterator[ReadBatch]: ...

    def close(self) -> None: ...


def available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


def reader_processes(mode: str, sizes: list[int]) -> int:
    """How many reader processes to use (0: read in-process) for files of these ``sizes``.

    ``mode``: ``"inline"`` (0), ``"process"`` or ``"auto"``. ``"auto"`` reads in-process when fewer than two
    CPUs are available or there are fewer than MIN_PROCESS_BYTES to read. Otherwise one process per CPU
    but one (this process parses on one thread and commits on another: about one CPU's worth), at most
    MAX_PROCESSES and at most one per file, each reading every n-th file; ``"process"`` uses at least one.
    (On 2 CPUs a second reader process measured no faster: both CPUs are busy already.)"""
    if mode not in ("auto", "process", "inline"):
        raise InvalidInput(f"reader must be auto, process or inline, not {mode!r}")
    cpus = available_cpus()
    if mode == "inline" or (mode == "auto" and (cpus < 2 or sum(sizes) < MIN_PROCESS_BYTES)):
        return 0
    return max(1, min(cpus - 1, MAX_PROCESSES, sum(1 for size in sizes if size)))


class _ClosedByWith:
    """A reader used in a ``with`` block is closed at its end."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class InlineReader(_ClosedByWith):
    """Reads in this process, lazily: a job's file is read as its batches are taken."""

    ahead = 1
    concurrent = False

    def __init__(self) -> None:
        self._jobs: deque[ReadJob] = deque()

    def submit(self, job: ReadJob) -> None:
        self._jobs.append(job)

    def take(self) -> Iterator[ReadBatch]:
        yield from read_batches(self._jobs.popleft())

    def close(self) -> None:
        self._jobs.clear()


class ReaderPool(_ClosedByWith):
    """``size`` reader processes, given files in turn (file k to process k mod size), taken in file order.
    The first process starts at once (its start-up overlaps the parent's); the others with their first file.
    """

    def __init__(self, size: int) -> None:
        self._size = max(1, size)
        self.ahead = self._size  # each process may hold a file while the parent parses an earlier one
        self.concurrent = True
        self._processes: list[ReaderProcess] = [ReaderProcess()]
        self._order: deque[ReaderProcess] = deque()
        self._submitted = 0

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self._processes]

    def submit(self, job: ReadJob) -> None:
        index = self._submitted % self._size
        if index == len(self._processes):
            self._processes.append(ReaderProcess())
        process = self._processes[index]
        process.submit(job)
        self._order.append(process)
        self._submitted += 1

    def take(self) -> Iterator[ReadBatch]:
        yield from self._order.popleft().take()

    def close(self) -> None:
        for process in self._processes:  # all told first: they exit side by side
            process.stop()
        for process in self._processes:
            process.close()
        self._order.clear()


class ReaderProcess(_ClosedByWith):
    """One reader child process (see the module docstring).

    A thread reads the child's frames as they come (reading a pipe and decoding Arrow release the GIL) and
    holds up to PREFETCH_BATCHES decoded batches: the child is not held up by a full pipe while the parent
    parses, so it reads on into the next file instead of waiting for the parent to finish this one."""

    ahead = 1
    concurrent = True

    def __init__(self, *, python: str | None = None) -> None:
        src = str(Path(__file__).resolve().parents[2])  # the same triage as this process's
        code = f"import sys; sys.path.insert(0, {src!r}); from triage.ingest.reader_process import main; sys.exit(main())"
        # pydantic looks for plugins in every installed package's metadata when the first model is defined
        # (≈ 0.1 s, before the child reads a line); the child only validates its jobs' FormatSpec
        env = {**os.environ, "PYDANTIC_DISABLE_PLUGINS": "__all__"}
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 (closed by close())
        self._labels: deque[str] = deque()  # of the jobs submitted and not yet ended (read by the thread)
        self._pending = 0  # jobs submitted and not yet taken to their end
        self._broken = False
        self._closing = threading.Event()
        self._frames: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=PREFETCH_BATCHES)
        self._proc = subprocess.Popen(
            [python or sys.executable, "-c", code],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=env,
            bufsize=1 << 20,
        )
        assert self._proc.stdout is not None
        _widen_pipe(self._proc.stdout)
        self._thread = threading.Thread(target=self._read_frames, name="triage-reader-frames", daemon=True)
        self._thread.start()

    @property
    def pid(self) -> int:
        return self._proc.pid

    def submit(self, job: ReadJob) -> None:
        if self._broken:
            raise ReaderFailed("the reader process failed earlier in this run")
        stdin = self._proc.stdin
        assert stdin is not None
        self._labels.append(job.label)  # before the child can answer
        self._pending += 1
        try:
            stdin.write(job.to_json() + b"\n")
            stdin.flush()
        except (BrokenPipeError, OSError):
            self._fail("it stopped reading jobs")

    def take(self) -> Iterator[ReadBatch]:
        while True:
            kind, value = self._frames.get()
            if kind == "batch":
                yield value
            elif kind == "end":
                self._pending -= 1
                return
            elif kind == "error":
                self._broken = True
                raise _ERRORS.get(str(value.get("error")), ReaderFailed)(str(value.get("message")))
            else:
                self._fail(value)

    def _read_frames(self) -> None:
        """The thread: frames -> (kind, value) items, until the end of the child's output."""
        stdout = self._proc.stdout
        assert stdout is not None
        try:
            while True:
                header = read_frame(stdout)
                if header is None:
                    self._put(("failed", "it exited in the middle of a file"))
                    return
                kind = header.get("kind")
                if kind == "batch":
                    self._put(("batch", decode_batch(stdout, header, self._labels[0])))
                elif kind == "end":
                    self._labels.popleft()
                    self._put(("end", None))
                elif kind == "error":
                    self._put(("error", header))
                    return
                else:
                    self._put(("failed", f"it sent an unknown frame {kind!r}"))
                    return
        except (EOFError, ValueError, OSError, IndexError) as exc:  # a torn frame, bad JSON or Arrow
            self._put(("failed", f"its output was cut or malformed ({exc})"))

    def _put(self, item: tuple[str, Any]) -> None:
        while not self._closing.is_set():
            try:
                self._frames.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def _fail(self, what: str) -> NoReturn:
        self._broken = True
        try:
            code = self._proc.wait(timeout=EXIT_TIMEOUT)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            code = self._proc.wait()
        raise ReaderFailed(f"the reader process failed: {what} (exit code {code}){self._last_error()}")

    def _last_error(self) -> str:
        self._stderr.seek(0)
        lines = [line for line in self._stderr.read().decode("utf-8", "replace").splitlines() if line.strip()]
        return f": {lines[-1].strip()}" if lines else ""

    def stop(self) -> None:
        """Tell the child to exit: close its stdin (it exits at the end of the job it is on); kill it if jobs
        are left unread (an error stopped the parent) or it failed."""
        proc = self._proc
        if proc.stdin is not None and not proc.stdin.closed:
            with contextlib.suppress(OSError):
                proc.stdin.close()
        if (self._pending or self._broken) and proc.poll() is None:
            proc.kill()

    def close(self) -> None:
        """:meth:`stop` the child and wait for it (kill it if it does not exit in time), and the thread."""
        proc = self._proc
        self.stop()
        try:
            proc.wait(timeout=EXIT_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        self._closing.set()
        self._thread.join()
        if proc.stdout is not None:
            proc.stdout.close()
        self._stderr.close()


def _widen_pipe(stream: IO[bytes]) -> None:
    """Ask for a PIPE_BYTES pipe (best effort: Linux only, and capped by ``/proc/sys/fs/pipe-max-size``).

    The frame thread needs the GIL again after every read from the pipe, and the parser holds it most of
    the time (a switch every 5 ms), so with a 64 KiB pipe the child waited between chunks of a batch (a batch
    is a few MiB): up to ≈ 0.15 s a batch while the parser mined new messages."""
    set_size = getattr(fcntl, "F_SETPIPE_SZ", None)
    if set_size is None:
        return
    with contextlib.suppress(OSError):
        fcntl.fcntl(stream.fileno(), set_size, PIPE_BYTES)


class _Unavailable:
    """A meta-path entry that makes importing some top-level packages fail (see ``pandas_unavailable``)."""

    def __init__(self, names: frozenset[str]) -> None:
        self.names = names

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if name.partition(".")[0] in self.names:
            raise ImportError(f"{name} is not imported while ingesting in this process")


@contextlib.contextmanager
def pandas_unavailable(*, numpy: bool = False) -> Iterator[None]:
    """``import pandas`` fails inside, for a process that has not imported it and only ingests (``triage
    ingest``, the reader process); a no-op where pandas is already imported. pyarrow imports pandas (≈ 0.4 s)
    on its first conversion of a Python list only to check whether the list is a pandas object; without
    pandas it skips that check. Reading and ingesting never make pandas objects. After it, pandas imports as
    usual, and pyarrow's ``to_pandas`` works (checked: it looks for pandas again).

    ``numpy``: numpy fails to import too, if pyarrow is not imported yet: pyarrow then starts without it
    (≈ 0.15 s less CPU per process; reading and ingesting convert nothing to or from numpy). Unlike pandas,
    pyarrow looks for numpy only once, as it is imported, so that process can never convert Arrow data to
    numpy or pandas: only for a process that ends when its ingest is done (the reader process, the
    ``triage ingest`` command run as its own process)."""
    names = {"pandas", "numpy"} if numpy and "pyarrow" not in sys.modules else {"pandas"}
    blocked = _Unavailable(frozenset(names - sys.modules.keys()))
    if not blocked.names:
        yield
        return
    sys.meta_path.insert(0, blocked)
    try:
        yield
    finally:
        sys.meta_path.remove(blocked)


def serve(jobs: IO[bytes], out: IO[bytes]) -> int:
    """The child's loop: one job per line of ``jobs``, its frames to ``out``. Returns the exit code."""
    for line in jobs:
        if not line.strip():
            continue
        try:
            for batch in read_batches(ReadJob.from_json(line)):
                encode_batch(out, batch)
                out.flush()  # the parent may be waiting for this batch
            write_frame(out, {"kind": "end"})
        except TriageError as exc:
            write_frame(out, {"kind": "error", "error": type(exc).__name__, "message": str(exc)})
            out.flush()
            return 1
        out.flush()
    return 0


def main() -> NoReturn:
    """The child's entry point. It ends with ``os._exit`` once its output is flushed: there is nothing to
    clean up, and a normal interpreter shutdown (pyarrow, pydantic) would keep the parent waiting ≈ 0.1 s."""
    out = sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing but frames on the pipe
    settle_heap()  # the child's own entry point: what it imported stays, rows come and go by the million
    try:
        with pandas_unavailable(numpy=True):  # the process ends when its jobs are read
            code = serve(sys.stdin.buffer, out)
        out.flush()
    except KeyboardInterrupt:  # the terminal's Ctrl-C reaches the whole process group; the parent reports it
        code = 130
    except BrokenPipeError:  # the parent went away
        code = 1
    sys.stderr.flush()
    os._exit(code)
