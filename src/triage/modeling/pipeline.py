"""Declarative training pipelines: ingest -> features -> train -> evaluate -> register.

A pipeline is a YAML file (``pipelines/configs/NAME.yaml``) validated into :class:`PipelineConfig`
(frozen, ``extra="forbid"``: a typo is an error, not a silently ignored key). :func:`run_pipeline` runs
the steps it lists, in DAG order, calling the same functions the notebooks call:

1. **ingest** — load log files into the store (by default the bundled samples, and only when the store
   holds no events yet, so ``triage pipeline run train`` on an empty home is self-sufficient).
2. **features** — materialise the feature views (window template counts, window error rates, error
   signatures) as tables in the store, tagged with their view version.
3. **train** — read events, templates, labelled tables (CSV files in the label folders) and feedback;
   build every model in the registry (or those named) with its parameters.
4. **evaluate** — score the current champion, if any, on each new model's held-back evaluation set, so
   the report says whether the new model beats it.
5. **register** — log each model to MLflow and register it: ``champion`` when the model has none, else
   ``challenger``; with ``register.promote: if_better`` the challenger is then promoted through the same
   gate as ``triage models promote`` (refusals are reported, not errors).

A run writes a manifest (config, per-model metrics, versions, aliases, timings) to
``<home>/models/pipeline_runs/<run_id>.json`` and returns it as a :class:`PipelineReport`.
"""

from __future__ import annotations

import dataclasses
import json
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from triage.config_files import load_yaml_model
from triage.errors import Conflict, InvalidInput, NotFound
from triage.settings import CHECKOUT_DIR, Settings

Step = Literal["ingest", "features", "train", "evaluate", "register"]
STEP_ORDER: tuple[Step, ...] = ("ingest", "features", "train", "evaluate", "register")
#: Where ``triage pipeline run NAME`` looks for ``NAME.yaml``.
CONFIG_DIR = CHECKOUT_DIR / "pipelines" / "configs"
SAMPLES = "@samples"  # in a path: the bundled samples folder (Settings.samples_dir)


class PipelineError(InvalidInput):
    """A pipeline config is malformed or names something that does not exist."""


class _Job(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class IngestJob(_Job):
    paths: tuple[str, ...] = Field(default=(f"{SAMPLES}/logs",), description="Files or folders; '@samples/…' = bundled.")
    format: str | None = Field(default=None, description="Log format preset (detected per file when empty).")
    only_if_empty: bool = Field(default=True, description="Skip when the store already holds events.")
    service_from_file_name: bool = Field(default=True, description="Service = file name up to '_' (HDFS_2k.log -> HDFS).")


class FeaturesJob(_Job):
    window: str = Field(default="1min", description="Window length of the windowed views.")


class TrainJob(_Job):
    models: tuple[str, ...] | None = Field(default=None, description="Registered names to train (default: all).")
    params: dict[str, dict[str, Any]] = Field(default_factory=dict, description="Per-model parameters.")
    label_paths: tuple[str, ...] = Field(default=(f"{SAMPLES}/labels",),
                                         description="CSV files or folders of labelled tables (name = file stem).")
    feedback: str | None = Field(default=None, description="CSV of analyst feedback (message, level, service, "
                                                           "template, category, severity).")
    since: str | None = Field(default=None, description="Only events at or after this time.")
    random_state: int = 0

    @field_validator("models")
    @classmethod
    def _not_empty(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is not None and not value:
            raise ValueError("list at least one model, or leave models out to train all")
        return value


class RegisterJob(_Job):
    promote: Literal["never", "if_better"] = Field(
        default="never", description="After registering a challenger: promote it when it beats the champion."
    )


class PipelineConfig(_Job):
    """One pipeline: which steps run and their parameters (defaults give the bundled-data training run)."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    description: str = ""
    steps: tuple[Step, ...] = STEP_ORDER
    ingest: IngestJob = IngestJob()
    features: FeaturesJob = FeaturesJob()
    train: TrainJob = TrainJob()
    registration: RegisterJob = Field(default=RegisterJob(), alias="register")  # "register" is BaseModel's

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    @field_validator("steps")
    @classmethod
    def _ordered(cls, value: tuple[Step, ...]) -> tuple[Step, ...]:
        if not value:
            raise ValueError("a pipeline needs at least one step")
        if len(set(value)) != len(value):
            raise ValueError("a step is listed twice")
        if list(value) != sorted(value, key=STEP_ORDER.index):
            raise ValueError(f"steps must follow the DAG order {' -> '.join(STEP_ORDER)}")
        needs = {"evaluate": "train", "register": "train"}
        for step, need in needs.items():
            if step in value and need not in value:
                raise ValueError(f"step {step} needs step {need}")
        return value


def load_config(path: Path) -> PipelineConfig:
    """Read and validate a pipeline YAML file (unlike operator configuration, it must exist)."""
    if not Path(path).is_file():
        raise NotFound(f"pipeline config not found: {path}")
    return load_yaml_model(Path(path), PipelineConfig, error=PipelineError)


def config_path(name: str, config: Path | None = None, *, folder: Path = CONFIG_DIR) -> Path:
    """``--config FILE`` if given, else ``pipelines/configs/NAME.yaml``."""
    if config is not None:
        return Path(config)
    path = folder / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []
        raise NotFound(f"no pipeline named {name!r} (known: {', '.join(known) or 'none'}; or pass --config FILE)")
    return path


def resolve_path(text: str, settings: Settings) -> Path:
    """A config path: ``@samples/…`` is the bundled samples folder; relative paths are from the home."""
    if text == SAMPLES or text.startswith(SAMPLES + "/"):
        return settings.samples_dir / text[len(SAMPLES) + 1 :]
    path = Path(text).expanduser()
    return path if path.is_absolute() else settings.home / path


# ----------------------------------------------------------------------------------------- reports
class ModelReport(BaseModel):
    name: str
    version: int | None = None
    aliases: tuple[str, ...] = ()
    metrics: dict[str, float] = Field(default_factory=dict)
    seconds: float = 0.0
    beats_champion: bool | None = None
    promotion: str | None = None  # "promoted" | the refusal message
    skipped: str | None = None  # why the model was not trained (training every model, data lacking)


class PipelineReport(BaseModel):
    run_id: str
    pipeline: str
    started_at: datetime
    seconds: float
    steps: dict[str, dict[str, Any]] = Field(default_factory=dict)
    models: list[ModelReport] = Field(default_factory=list)


# ----------------------------------------------------------------------------------------- steps
def read_label_tables(paths: Sequence[Path]) -> dict[str, Any]:
    """Every ``*.csv`` in the given files/folders as a DataFrame, keyed by file stem."""
    import pandas as pd

    tables: dict[str, Any] = {}
    for path in paths:
        if not path.exists():
            raise NotFound(f"label table path not found: {path}")
        files = sorted(path.glob("*.csv")) if path.is_dir() else [path]
        for file in files:
            if file.stem in tables:
                raise PipelineError(f"two label tables are named {file.stem!r}")
            try:
                tables[file.stem] = pd.read_csv(file, keep_default_na=False, na_values=[""])
            except (ValueError, pd.errors.ParserError) as exc:
                raise PipelineError(f"label table {file.name} is not readable CSV: {exc}".splitlines()[0]) from exc
    return tables


def _step_ingest(job: IngestJob, settings: Settings) -> dict[str, Any]:
    from triage.features.ingest_job import ingest
    from triage.features.store import FeatureStore

    store = FeatureStore(settings)
    if job.only_if_empty and store.db.exists() and store.counts()["events"] > 0:
        return {"skipped": "the store already holds events"}
    paths = [resolve_path(p, settings) for p in job.paths]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise NotFound(f"ingest path(s) not found: {', '.join(missing)}")
    files = [f for p in paths for f in (sorted(p.glob("*.log")) if p.is_dir() else [p])]
    if not files:
        raise NotFound(f"no *.log files under {', '.join(map(str, paths))}")
    lines = events = 0
    for file in files:
        # each file is its own service, named like `triage run` does: HDFS_2k.log -> HDFS
        service = file.stem.split("_")[0] if job.service_from_file_name else None
        report = ingest(settings, [file], format=job.format, service=service)
        lines, events = lines + report.lines, events + report.events
    return {"files": len(files), "lines": lines, "events": events}


def _step_features(job: FeaturesJob, settings: Settings) -> dict[str, Any]:
    from triage.features.store import FeatureStore
    from triage.features.windows import error_rates, error_signatures, template_counts

    store = FeatureStore(settings)
    events = store.events(columns=["ts", "service", "component", "level", "template_id"])
    # the error-rate grid is complete per service over that service's own span (sources years apart
    # would otherwise make a grid of millions of empty windows)
    rates_view = error_rates(events, window=job.window, span="service")
    written = {}
    for name, view in (("window_template_counts", template_counts(events, window=job.window)),
                       ("window_error_rates", rates_view),
                       ("error_signatures", error_signatures(events))):  # fmt: skip
        store.write(name, view, mode="replace")
        written[name] = {"rows": len(view), "view": view.attrs.get("view")}
    return written


def load_training_inputs(job: TrainJob, settings: Settings, params: dict[str, Any] | None = None) -> Any:
    """The :class:`~triage.modeling.specs.TrainingInputs` a train step reads (store, label tables, feedback)."""
    import pandas as pd

    from triage.features.store import EVENT_COLUMNS, FeatureStore
    from triage.modeling.specs import TrainingInputs

    store = FeatureStore(settings)
    if store.db.exists() and store.counts()["events"]:
        events = store.events(since=job.since)
        templates = store.templates()
    else:
        events = pd.DataFrame({c: pd.Series(dtype=object) for c in EVENT_COLUMNS})
        templates = pd.DataFrame({c: pd.Series(dtype=object) for c in ("template_id", "text", "version", "count")})
    tables = read_label_tables([resolve_path(p, settings) for p in job.label_paths])
    feedback = None
    if job.feedback:
        path = resolve_path(job.feedback, settings)
        if not path.is_file():
            raise NotFound(f"feedback file not found: {path}")
        feedback = pd.read_csv(path, keep_default_na=False, na_values=[""])
    return TrainingInputs(events=events, templates=templates, label_tables=tables, feedback=feedback,
                          params=params or {}, random_state=job.random_state)  # fmt: skip


def run_pipeline(
    config: PipelineConfig,
    settings: Settings,
    *,
    actor: str,
    reason: str | None = None,
    audit: Any = None,
    approver: Any = None,
    progress: Any = None,
) -> PipelineReport:
    """Run ``config``'s steps in order; returns (and writes) the run manifest.

    ``audit``/``approver`` are handed to the :class:`~triage.modeling.tracking.ModelTracker` (see there);
    ``progress(message)``, if given, is called at the start of each step and model.
    """
    from triage.modeling.lifecycle import train_and_register
    from triage.modeling.registry import model_specs
    from triage.modeling.specs import InsufficientData
    from triage.modeling.tracking import CHAMPION, ModelTracker, PromotionRefused

    say = progress or (lambda message: None)
    started_at = datetime.now(UTC)
    clock = time.perf_counter()
    run_id = f"{started_at:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
    reason = reason or f"pipeline {config.name} run {run_id}"
    report = PipelineReport(run_id=run_id, pipeline=config.name, started_at=started_at, seconds=0.0)
    specs = model_specs()
    wanted = list(config.train.models) if config.train.models is not None else list(specs)
    unknown = [m for m in wanted if m not in specs]
    unknown += [m for m in config.train.params if m not in specs]
    if unknown:
        raise NotFound(f"unknown model {unknown[0]!r}; trainable models: {', '.join(sorted(specs))}")

    if "ingest" in config.steps:
        say("ingest")
        t = time.perf_counter()
        report.steps["ingest"] = {**_step_ingest(config.ingest, settings), "seconds": time.perf_counter() - t}
    if "features" in config.steps:
        say("features")
        t = time.perf_counter()
        report.steps["features"] = {**_step_features(config.features, settings), "seconds": time.perf_counter() - t}
    if "train" in config.steps:
        tracker = ModelTracker.from_settings(settings, audit=audit, approver=approver)
        base = load_training_inputs(config.train, settings)
        for name in wanted:
            spec = specs[name]
            say(f"train {name}")
            inputs = dataclasses.replace(base, params=config.train.params.get(name, {}))
            t = time.perf_counter()
            try:
                if "register" in config.steps:
                    run = train_and_register(spec, inputs, tracker, settings=settings, actor=actor, reason=reason,
                                             extra_params={"pipeline": config.name, "pipeline_run": run_id})  # fmt: skip
                    entry = ModelReport(name=name, version=run.version.version, aliases=run.version.aliases,
                                        metrics=run.metrics, seconds=run.seconds)  # fmt: skip
                else:
                    trained = spec.build(inputs)
                    entry = ModelReport(name=name, metrics=dict(trained.metrics), seconds=time.perf_counter() - t)
            except InsufficientData as exc:
                if config.train.models is not None:
                    raise  # asked for by name: its data must be there
                # training every model: one whose data the store lacks is reported, not fatal
                report.models.append(ModelReport(name=name, skipped=str(exc), seconds=time.perf_counter() - t))
                continue
            if "evaluate" in config.steps and "register" in config.steps and CHAMPION not in entry.aliases:
                say(f"evaluate {name}")
                champion = tracker.load(name, CHAMPION)
                frame = tracker.eval_frame(name, entry.version) if entry.version else None
                if frame is not None and len(frame):
                    old = float(spec.score(champion.estimator, frame))
                    new = entry.metrics.get(spec.primary_metric)
                    entry.metrics[f"champion_{spec.primary_metric}"] = old
                    if new is not None:
                        entry.beats_champion = (new > old) if spec.greater_is_better else (new < old)
                if config.registration.promote == "if_better" and entry.beats_champion:
                    try:
                        moved = tracker.promote(name, score=spec.score, actor=actor, reason=reason)
                    except (PromotionRefused, Conflict) as exc:
                        entry.promotion = str(exc)
                    else:
                        if moved.action == "promote":
                            entry.promotion = "promoted" + (f" under change {moved.change_id}" if moved.change_id else "")
                            entry.aliases = (CHAMPION,)
                        else:  # change control left it waiting for approval
                            entry.promotion = f"awaiting approval: change {moved.change_id}"
            report.models.append(entry)
    report.seconds = time.perf_counter() - clock
    _write_manifest(report, config, settings)
    return report


def _write_manifest(report: PipelineReport, config: PipelineConfig, settings: Settings) -> Path:
    folder = settings.models_dir / "pipeline_runs"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{report.run_id}.json"
    document = {"config": config.model_dump(mode="json", by_alias=True), "report": report.model_dump(mode="json")}
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(document, indent=2, sort_keys=True, default=str), encoding="utf-8")
    tmp.replace(path)
    return path


def missing_champions(settings: Settings) -> list[str]:
    """Trainable models that have no champion in the home's registry (what `triage run` trains first)."""
    from triage.modeling.registry import model_specs
    from triage.modeling.tracking import ModelTracker

    tracker = ModelTracker.from_settings(settings)
    return [name for name in model_specs() if not tracker.has_champion(name)]
