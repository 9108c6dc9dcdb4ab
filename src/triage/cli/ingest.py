"""`triage ingest`, `triage templates`, `triage version`."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from triage.cli._common import end_without_teardown, own_process, print_json, settings_of
from triage.heap import settle_heap


def register(app: typer.Typer) -> None:
    app.command("ingest")(ingest_command)
    app.command("templates")(templates_command)
    app.command("version")(version_command)


def ingest_command(
    ctx: typer.Context,
    paths: Annotated[
        list[str], typer.Argument(help="Log files, directories (walked) or - for standard input.")
    ],
    format: Annotated[
        str | None,
        typer.Option(
            "--format",
            "-f",
            help="A preset (hdfs, syslog, json, ...) or a format string with <Content>; "
            "detected per file when omitted.",
        ),
    ] = None,
    service: Annotated[
        str | None,
        typer.Option(
            "--service",
            "-s",
            help="Service name for every record (default: the log's own, else the file name).",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON line with the counts.")] = False,
) -> None:
    """Read logs into the store: templates mined, PHI redacted, unparseable lines quarantined.

    Re-ingesting a file adds nothing; a file that grew adds only its new lines; an interrupted ingest
    resumes where it stopped when run again.
    """
    from triage.features.ingest_job import ingest
    from triage.ingest.reader_process import pandas_unavailable

    settings = settings_of(ctx)
    stdin = sys.stdin.buffer if "-" in paths else None
    if own_process():
        settle_heap()  # the miner's tree and the libraries stay; rows come and go by the million
    # This process only ingests: without pandas, pyarrow skips importing it (≈ 0.5 s of a run's start); as
    # the process's own command, it ends after the ingest, so pyarrow may start without numpy too.
    with _progress(enabled=sys.stderr.isatty()) as progress, pandas_unavailable(numpy=own_process()):
        report = ingest(settings, paths, format=format, service=service, stdin=stdin, progress=progress)
    end_without_teardown()  # the store is closed and the reader processes have exited
    if as_json:
        print_json(report.as_json())
        return
    rate = report.lines / report.seconds if report.seconds else 0.0
    typer.echo(
        f"{report.lines:,} lines -> {report.events:,} events ({report.merged:,} continuation lines merged,"
        f" {report.quarantined:,} quarantined), {report.templates:,} templates ({report.new_templates:,} new)"
        f" in {report.seconds:.1f} s ({rate:,.0f} lines/s)"
    )
    if report.unchanged:
        typer.echo(f"{report.unchanged} file(s) had nothing new (already ingested, or empty)")


def templates_command(
    ctx: typer.Context,
    service: Annotated[
        str | None, typer.Option("--service", "-s", help="Only this service's events.")
    ] = None,
    limit: Annotated[
        int | None, typer.Option("--limit", "-n", min=1, help="At most this many templates.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document (a list).")] = False,
) -> None:
    """List templates, most frequent first, with their counts."""
    from triage.features.store import FeatureStore

    store = FeatureStore(settings_of(ctx))
    frame = store.templates(service=service, limit=limit) if store.db.exists() else None
    rows = [] if frame is None else frame.to_dict(orient="records")
    if as_json:
        print_json(rows)
        return
    if not rows:
        typer.echo("no templates yet (run `triage ingest PATH` first)")
        return
    for row in rows:
        typer.echo(f"{row['count']:>10,}  {row['template_id']}  v{row['version']}  {row['text']}")


def version_command() -> None:
    """Print triage's version."""
    from triage import __version__

    typer.echo(__version__)


class _progress:
    """A rich progress bar (bytes) on stderr when it is a terminal; nothing otherwise."""

    def __init__(self, *, enabled: bool) -> None:
        self.enabled = enabled
        self._bar = None

    def __enter__(self):
        if not self.enabled:
            return None
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        self._bar = Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self._bar.start()
        bar = self._bar

        def start(files: int, total: int):
            task = bar.add_task(f"ingest {files} file(s)", total=total)
            return lambda done: bar.advance(task, done)

        return start

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()
