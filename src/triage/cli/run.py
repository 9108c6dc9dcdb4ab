"""`triage run` (what `make run` calls): bring a home folder to a working state, one step after another.

Each step is idempotent and says what it did, so running it again on a working home does almost nothing.
Steps so far: create the home's folders, create or upgrade the store, load the bundled sample logs when
the store holds no events yet. (Training models and serving are added as their own steps.)
"""

from __future__ import annotations

from pathlib import Path

import typer

from triage.cli._common import settings_of
from triage.settings import Settings


def register(app: typer.Typer) -> None:
    app.command("run")(run_command)


def run_command(ctx: typer.Context) -> None:
    """Set up the home folder and load the bundled samples if the store is empty."""
    settings = settings_of(ctx)
    for step in (ensure_home, ingest_samples_if_empty):
        typer.echo(f"triage run: {step(settings)}")


def ensure_home(settings: Settings) -> str:
    """Create the home's folders and the store's tables."""
    from triage.features.store import FeatureStore

    for folder in (settings.data_dir, settings.interim_dir, settings.store_path.parent, settings.models_dir):
        folder.mkdir(parents=True, exist_ok=True)
    applied = FeatureStore(settings).migrate()
    what = f"created {len(applied)} schema step(s)" if applied else "schema up to date"
    return f"home {settings.home} ready ({what})"


def sample_logs(settings: Settings) -> list[Path]:
    """The bundled sample logs (``data/samples/logs/*.log``)."""
    return sorted((settings.samples_dir / "logs").glob("*.log"))


def ingest_samples_if_empty(settings: Settings) -> str:
    """Ingest the bundled samples, each as its own service (``HDFS_2k.log`` -> ``HDFS``), unless the store
    already has events (yours or the samples')."""
    from triage.features.ingest_job import ingest
    from triage.features.store import FeatureStore

    store = FeatureStore(settings)
    if store.has_events():
        counts = store.counts()
        return (
            f"store has {counts['events']:,} events and {counts['templates']:,} templates; samples not loaded"
        )
    files = sample_logs(settings)
    if not files:
        return f"no sample logs under {settings.samples_dir / 'logs'}; nothing loaded"
    lines = events = quarantined = 0
    for path in files:
        report = ingest(settings, [path], service=path.stem.split("_")[0])
        lines, events, quarantined = (
            lines + report.lines,
            events + report.events,
            quarantined + report.quarantined,
        )
    templates = store.counts()["templates"]
    names = ", ".join(p.name for p in files)
    return (
        f"loaded {len(files)} sample logs ({names}): {lines:,} lines -> {events:,} events,"
        f" {quarantined:,} quarantined, {templates:,} templates"
    )
