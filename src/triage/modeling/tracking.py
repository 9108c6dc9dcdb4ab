"""The model lifecycle over MLflow: the only module that imports ``mlflow``.

Written against mlflow 3.17 (``log_model(name=...)``, logged models ``models:/m-<id>``, registry aliases).

Where things live: the tracking and registry store is ``settings.tracking_uri`` (default
``sqlite:///<home>/models/mlflow.db``; any MLflow URI by setting ``TRIAGE_MLFLOW_TRACKING_URI``), artefacts
go to ``settings.artifacts_uri`` (``<home>/models/mlartifacts``). Nothing here talks to a network unless
the tracking URI says so; MLflow's telemetry is switched off before mlflow is imported.

What a training run records (:meth:`ModelTracker.log_trained`): parameters, metrics, the training data
fingerprint, the feature-view version and the Drain3 configuration hash (as tags and params), the
held-back evaluation set (``eval/eval_frame.parquet``) and the model itself in MLflow's native
scikit-learn flavour, preprocessing included (a fitted ``Pipeline``/estimator object loads by URI alone).
Models are pickled (MLflow's ``pickle`` format) and their sha256 is stored as a tag of the registered
version; every load recomputes it and refuses a mismatch (:class:`ModelIntegrityError`), so triage never
unpickles a file it did not write. (MLflow's default ``skops`` format is no safer here, since its
trusted-type list is read from the model itself, and importing skops costs seconds.)

Aliases and moves. A new version gets the alias ``challenger``, or ``champion`` when the model has none
yet. :meth:`ModelTracker.promote` moves ``champion`` to the challenger only when the challenger scores
strictly better than the champion *on the same held-back evaluation set* (the challenger's, i.e. the
most recent data), and :meth:`ModelTracker.rollback` moves it back to the previous champion. Every move
(and every refused promotion) is a :class:`ModelMove` — who, when, why, from/to version and the metrics —
kept as a tag of the registered model (``triage.move.NNNNNN``) and handed to the injected ``audit``
callable.

Change control. An injected ``approver`` (a :data:`Approver`, the seam for ``triage.changes``; the CLI
wires it) is handed each move together with a ``perform(change_id)`` callable that makes it. It may
refuse the move by raising; make it by calling ``perform`` (for instance from inside a standard change's
implementation step, so the move lands between the change's "implement" and "review" entries); or
leave it pending (a normal change waiting for approval) by returning a change id without calling
``perform``. A pending move is recorded as ``promotion_pending`` / ``rollback_pending`` and is carried out
later, once approved, by :meth:`ModelTracker.complete`. Without an approver a move is made at once.

Fast loading. Importing mlflow and opening its sqlite store take seconds, so the scorer's hot path does
not use them: every champion move also exports the champion's model file and a manifest (version,
sha256, metrics) to ``<home>/models/served/<name>/`` (atomically), and :func:`load_served` loads that
copy with no mlflow import, verifying the checksum. A model with a portable form (the error classifier:
:mod:`triage.modeling.portable`) is exported as arrays too, and served from them without importing
scikit-learn (≈ 0.3 s in a new process instead of ≈ 3.7 s). ``load`` by alias through the registry remains the
authoritative path (CLI, notebooks); both return the same :class:`LoadedModel`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import math
import os
import pickle
import re
import shutil
import tempfile
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

from triage.errors import Conflict, IntegrityError, InvalidInput, NotFound, TriageError

if TYPE_CHECKING:
    import pandas as pd

    from triage.settings import Settings

CHAMPION = "champion"
CHALLENGER = "challenger"
MODEL_FILE = "model.pkl"
PORTABLE_FILE = "portable.npz"  # triage.modeling.portable.PORTABLE_FILE, without importing NumPy here
log = logging.getLogger("triage.models")
EVAL_ARTIFACT = "eval/eval_frame.parquet"
SERVED_DIR_NAME = "served"
MANIFEST = "manifest.json"
EXPERIMENT = "triage"
TAG = "triage."
_MOVE_TAG = re.compile(r"^triage\.move\.(\d{6})$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
#: Packages recorded as the model's requirements (skips MLflow's slow requirement inference).
PIP_REQUIREMENTS = ("scikit-learn", "lightgbm", "pandas", "numpy", "scipy")


class TrackingError(TriageError):
    """MLflow could not do what was asked (store unreachable, bad URI)."""


class ModelIntegrityError(IntegrityError):
    """A model artefact is missing, corrupt or was not written by triage."""


class PromotionRefused(Conflict):
    """The challenger does not beat the champion on the held-back evaluation set."""


# ----------------------------------------------------------------------------------------- records
@dataclass(frozen=True)
class ModelMove:
    """One alias move (or refused promotion) of a registered model: who, when, why, what changed."""

    model: str
    action: str  # register | promote | rollback | promotion_refused
    alias: str
    from_version: int | None
    to_version: int | None
    actor: str
    at: datetime
    reason: str
    metrics: dict[str, float] = field(default_factory=dict)
    change_id: str | None = None  # the change request the move was (or is to be) made under
    evaluation_passed: bool | None = None  # promotions: did the challenger beat the champion (None: no champion)

    def to_json(self) -> str:
        data = asdict(self)
        data["at"] = self.at.astimezone(UTC).isoformat()
        return json.dumps(data, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> ModelMove:
        data = json.loads(text)
        data["at"] = datetime.fromisoformat(data["at"])
        return cls(**data)


AuditSink = Callable[[ModelMove], None]
#: ``approver(move, perform) -> change id or None``: raise to refuse; call ``perform(change_id)`` to make
#: the move; return without calling it to leave the move pending (see the module doc, *Change control*).
Approver = Callable[[ModelMove, Callable[[str | None], dict[str, Any]]], str | None]
#: The recorded action of a move left pending by the approver.
PENDING = {"promote": "promotion_pending", "rollback": "rollback_pending"}
#: Actions that moved an alias (the others record what did *not* happen).
MOVED = frozenset({"register", "promote", "rollback"})


@dataclass(frozen=True)
class ModelVersionInfo:
    name: str
    version: int
    run_id: str | None
    aliases: tuple[str, ...]
    created_at: datetime | None
    metrics: dict[str, float]
    tags: dict[str, str]

    def as_dict(self) -> dict[str, Any]:
        return {"version": self.version, "aliases": list(self.aliases), "run_id": self.run_id,
                "created_at": self.created_at.isoformat() if self.created_at else None,
                "metrics": self.metrics, "data_fingerprint": self.tags.get(TAG + "data_fingerprint"),
                "feature_view": self.tags.get(TAG + "feature_view")}  # fmt: skip


@dataclass(frozen=True)
class RegisteredModelInfo:
    name: str
    aliases: dict[str, int]
    primary_metric: str | None
    versions: tuple[ModelVersionInfo, ...]

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "aliases": self.aliases, "primary_metric": self.primary_metric,
                "versions": [v.as_dict() for v in self.versions]}  # fmt: skip


@dataclass(frozen=True)
class LoadedModel:
    """A model ready to use, with where it came from."""

    name: str
    version: int
    alias: str | None
    estimator: Any
    sha256: str
    metadata: dict[str, Any] = field(default_factory=dict)


# ----------------------------------------------------------------------------------------- helpers
def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidInput(f"invalid model name {name!r}: letters, digits, '.', '_' and '-' only")
    return name


def _now() -> datetime:
    return datetime.now(UTC)


def _finite(metrics: Mapping[str, Any]) -> dict[str, float]:
    out = {}
    for key, value in metrics.items():
        try:
            number = float(value)
        except (TypeError, ValueError):
            continue
        if math.isfinite(number):
            out[str(key)] = number
    return out


def _flat_params(params: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(_flat_params(value, f"{name}."))
        else:
            text = json.dumps(value, default=str) if isinstance(value, (list, tuple)) else str(value)
            out[name] = text[:6000]  # MLflow's limit for a param value
    return out


def _local_path(uri: str) -> Path | None:
    parsed = urlparse(uri)
    if parsed.scheme in ("", "file"):
        return Path(unquote(parsed.path if parsed.scheme else uri))
    return None


def _atomic_dir_replace(source: Path, target: Path) -> None:
    """Put ``source`` (a finished folder) at ``target``, replacing what was there, via renames."""
    target.parent.mkdir(parents=True, exist_ok=True)
    old = target.with_name(target.name + ".old")
    if old.exists():
        shutil.rmtree(old)
    if target.exists():
        os.replace(target, old)
    os.replace(source, target)
    if old.exists():
        shutil.rmtree(old)


# ----------------------------------------------------------------------------------------- hot path
def load_served(served_dir: Path, name: str, *, portable: bool = True) -> LoadedModel:
    """The champion exported for serving, checksum-verified; imports neither mlflow nor the registry.

    A model exported with a portable copy (the error classifier) loads as that copy unless ``portable``
    is False: the same predictions without importing scikit-learn, SciPy, pandas or LightGBM."""
    _check_name(name)
    folder = Path(served_dir) / name
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        raise NotFound(f"no champion of {name!r} has been exported to {folder} (train or promote one)")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        expected = str(manifest["sha256"])
    except (ValueError, KeyError) as exc:
        raise ModelIntegrityError(f"{manifest_path} is not a valid manifest") from exc
    what = f"{name} v{manifest.get('version')}"
    model_path = folder / MODEL_FILE
    actual = _served_file_sha256(model_path, expected, what, "model file")
    compact = manifest.get("portable")
    if portable and compact:  # the same model as arrays: loads with NumPy alone (see triage.modeling.portable)
        estimator = _load_portable(folder / str(compact["file"]), str(compact["sha256"]), what)
    else:
        estimator = _unpickle(model_path, what)
    return LoadedModel(name, int(manifest["version"]), manifest.get("alias"), estimator, actual, manifest)


def _served_file_sha256(path: Path, expected: str, what: str, part: str) -> str:
    """``path``'s sha256 when it is the one the manifest recorded; otherwise a ModelIntegrityError."""
    if not path.is_file():
        raise ModelIntegrityError(f"served model {what}: {part} missing: {path}")
    actual = sha256_file(path)
    if actual != expected:
        raise ModelIntegrityError(
            f"served model {what}: {part} checksum mismatch (manifest {expected[:12]}…, file {actual[:12]}…); "
            "refusing to load"
        )
    return actual


def _load_portable(path: Path, expected: str, what: str) -> Any:
    from triage.modeling import portable

    _served_file_sha256(path, expected, what, "portable copy")
    try:
        return portable.load(path)
    except TriageError as exc:
        raise ModelIntegrityError(f"served model {what}: {exc}") from exc


def _export_portable(model_path: Path, dest: Path, what: str) -> str | None:
    """Write the portable copy of a model that has one (``to_portable``); its sha256, or None."""
    from triage.modeling import portable

    estimator = _unpickle(model_path, what)  # the caller verified the file's checksum
    to_portable = getattr(estimator, "to_portable", None)
    if to_portable is None:
        return None
    try:
        spec, arrays = to_portable()
    except TriageError as exc:  # a part without a portable form: serve the pickle only
        log.warning("model %s has no portable copy: %s", what, exc)
        return None
    portable.save(dest, spec, arrays)
    return sha256_file(dest)


def _unpickle(path: Path, what: str) -> Any:
    # Only called after the file's sha256 matched the checksum triage recorded when it wrote the file.
    try:
        with open(path, "rb") as handle:
            return pickle.load(handle)
    except Exception as exc:  # a verified file that does not unpickle: wrong library versions
        raise ModelIntegrityError(f"model {what} could not be loaded: {type(exc).__name__}: {exc}") from exc


# ----------------------------------------------------------------------------------------- tracker
def _mlflow() -> Any:
    """Import mlflow quietly (telemetry off, its INFO chatter and known warnings muted)."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")
    import mlflow

    # mlflow logs INFO lines on every registration and a WARNING about pickle on every save (we verify a
    # checksum instead); the CLI prints one line per outcome, so keep its loggers to errors
    for logger in ("mlflow", "alembic", "alembic.runtime.migration"):
        logging.getLogger(logger).setLevel(logging.ERROR)
    return mlflow


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


class ModelTracker:
    """Log, register, load, promote and roll back models in one MLflow tracking store.

    ``audit`` receives every :class:`ModelMove`; ``approver`` decides how each move is made (see the
    module doc, *Change control*). Construct with :meth:`from_settings` at the edges.
    """

    def __init__(
        self,
        *,
        tracking_uri: str,
        artifacts_uri: str,
        served_dir: Path,
        experiment: str = EXPERIMENT,
        audit: AuditSink | None = None,
        approver: Approver | None = None,
    ) -> None:
        self.tracking_uri = tracking_uri
        self.artifacts_uri = artifacts_uri
        self.served_dir = Path(served_dir)
        self.experiment = experiment
        self.audit = audit
        self.approver = approver
        self._client: Any = None

    @classmethod
    def from_settings(cls, settings: Settings, *, audit: AuditSink | None = None,
                      approver: Approver | None = None) -> ModelTracker:  # fmt: skip
        if settings.mlflow_tracking_uri is None:
            settings.models_dir.mkdir(parents=True, exist_ok=True)
        return cls(tracking_uri=settings.tracking_uri, artifacts_uri=settings.artifacts_uri,
                   served_dir=settings.models_dir / SERVED_DIR_NAME, audit=audit, approver=approver)  # fmt: skip

    # ------------------------------------------------------------------ plumbing
    @property
    def client(self) -> Any:
        if self._client is None:
            mlflow = _mlflow()
            try:
                with _quiet():
                    self._client = mlflow.MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)
            except Exception as exc:
                raise TrackingError(f"cannot open the MLflow store {self.tracking_uri}: {exc}".splitlines()[0]) from exc
        return self._client

    def _experiment_id(self) -> str:
        with _quiet():
            found = self.client.get_experiment_by_name(self.experiment)
            if found is not None:
                return found.experiment_id
            return self.client.create_experiment(self.experiment, artifact_location=self.artifacts_uri)

    def _lock(self) -> Any:
        from filelock import FileLock

        self.served_dir.parent.mkdir(parents=True, exist_ok=True)
        return FileLock(str(self.served_dir.parent / ".registry.lock"), timeout=60)

    def _registered(self, name: str) -> Any:
        _check_name(name)
        mlflow = _mlflow()
        try:
            with _quiet():
                return self.client.get_registered_model(name)
        except mlflow.exceptions.MlflowException:
            known = ", ".join(sorted(m.name for m in self._search_models())) or "none"
            raise NotFound(f"no registered model named {name!r} (registered: {known})") from None

    def _search_models(self) -> list[Any]:
        with _quiet():
            return list(self.client.search_registered_models(max_results=1000))

    def _alias_version(self, name: str, alias: str) -> int | None:
        model = self._registered(name)
        version = (getattr(model, "aliases", None) or {}).get(alias)
        return int(version) if version is not None else None

    def _version(self, name: str, version: int) -> Any:
        mlflow = _mlflow()
        try:
            with _quiet():
                return self.client.get_model_version(name, str(version))
        except mlflow.exceptions.MlflowException:
            raise NotFound(f"model {name!r} has no version {version}") from None

    # ------------------------------------------------------------------ logging a training run
    def log_trained(
        self,
        name: str,
        *,
        estimator: Any,
        params: Mapping[str, Any],
        metrics: Mapping[str, Any],
        eval_frame: pd.DataFrame | None,
        data_fingerprint: str,
        feature_view: str,
        drain3_config_hash: str,
        primary_metric: str,
        greater_is_better: bool = True,
        actor: str,
        reason: str,
        tags: Mapping[str, str] | None = None,
    ) -> ModelVersionInfo:
        """Log one training run, register the model as a new version and give it an alias.

        The new version becomes ``champion`` when the model has none (first training), else ``challenger``
        (promote it with :meth:`promote`).
        """
        _check_name(name)
        mlflow = _mlflow()
        from mlflow import sklearn as mlflow_sklearn

        metrics = _finite(metrics)
        run_tags = {
            TAG + "model": name, TAG + "data_fingerprint": data_fingerprint, TAG + "feature_view": feature_view,
            TAG + "drain3_config_hash": drain3_config_hash, TAG + "actor": actor, TAG + "reason": reason[:500],
            TAG + "primary_metric": primary_metric, **(tags or {}),
        }  # fmt: skip
        try:
            experiment_id = self._experiment_id()
            with _quiet(), tempfile.TemporaryDirectory(prefix="triage-model-") as tmp:
                local = Path(tmp) / "model"
                mlflow_sklearn.save_model(
                    estimator, str(local), serialization_format=mlflow_sklearn.SERIALIZATION_FORMAT_PICKLE,
                    pip_requirements=list(PIP_REQUIREMENTS),
                )  # fmt: skip
                digest = sha256_file(local / MODEL_FILE)
                run = self.client.create_run(experiment_id, run_name=f"{name}-{_now():%Y%m%dT%H%M%S}", tags=run_tags)
                run_id = run.info.run_id
                self._log_run(run_id, params, metrics, data_fingerprint, feature_view, drain3_config_hash)
                if eval_frame is not None:
                    frame_path = Path(tmp) / "eval_frame.parquet"
                    eval_frame.to_parquet(frame_path, index=False)
                    self.client.log_artifact(run_id, str(frame_path), artifact_path="eval")
                self.client.log_artifacts(run_id, str(local), artifact_path="model")
                self.client.set_terminated(run_id)
                # the run's artefact URI itself: a runs:/ source would be resolved against mlflow's *global*
                # tracking URI (sqlite:///mlflow.db in the working directory), not this store
                source = f"{run.info.artifact_uri.rstrip('/')}/model"
                with contextlib.suppress(mlflow.exceptions.MlflowException):
                    self.client.create_registered_model(name)
                version_tags = {
                    TAG + "sha256": digest, TAG + "flavor": "sklearn", TAG + "file": MODEL_FILE,
                    TAG + "data_fingerprint": data_fingerprint, TAG + "feature_view": feature_view,
                    TAG + "drain3_config_hash": drain3_config_hash, TAG + "primary_metric": primary_metric,
                    **{TAG + "metric." + k: repr(v) for k, v in metrics.items()},
                }  # fmt: skip
                mv = self.client.create_model_version(name, source, run_id=run_id, tags=version_tags)
                self.client.set_registered_model_tag(name, TAG + "primary_metric", primary_metric)
                self.client.set_registered_model_tag(name, TAG + "greater_is_better", str(bool(greater_is_better)))
        except TriageError:
            raise
        except Exception as exc:
            raise TrackingError(f"logging {name} to {self.tracking_uri} failed: {exc}".splitlines()[0]) from exc
        version = int(mv.version)
        with self._lock():
            champion = self._alias_version(name, CHAMPION)
            alias = CHAMPION if champion is None else CHALLENGER
            move = ModelMove(name, "register", alias, champion if alias == CHAMPION else
                             self._alias_version(name, CHALLENGER), version, actor, _now(), reason,
                             {k: metrics[k] for k in (primary_metric,) if k in metrics})  # fmt: skip
            self._move(move)
        return self.version_info(name, version)

    def _log_run(self, run_id: str, params: Mapping[str, Any], metrics: Mapping[str, float],
                 data_fingerprint: str, feature_view: str, drain3_config_hash: str) -> None:  # fmt: skip
        from mlflow.entities import Metric, Param

        flat = _flat_params({**params, "data_fingerprint": data_fingerprint, "feature_view": feature_view,
                             "drain3_config_hash": drain3_config_hash})  # fmt: skip
        stamp = int(_now().timestamp() * 1000)
        items = [Param(k, v) for k, v in sorted(flat.items())]
        for start in range(0, len(items), 100):
            self.client.log_batch(run_id, params=items[start : start + 100])
        points = [Metric(k, v, stamp, 0) for k, v in sorted(metrics.items())]
        for start in range(0, len(points), 500):
            self.client.log_batch(run_id, metrics=points[start : start + 500])

    # ------------------------------------------------------------------ alias moves
    def _move(self, move: ModelMove) -> ModelMove:
        """Hand the move to the approver (or make it at once): move the alias, export the champion, record
        the move (MLflow tag + audit). Returns the move as made, or as left pending."""
        if move.action not in MOVED:
            self._record(move)
            return move
        made: list[ModelMove] = []

        def perform(change_id: str | None = None) -> dict[str, Any]:
            if made:
                raise Conflict(f"{move.model}: the {move.action} move was already made")
            done = dataclasses.replace(move, change_id=change_id or move.change_id)
            with _quiet():
                self.client.set_registered_model_alias(done.model, done.alias, str(done.to_version))
            if done.alias == CHAMPION:
                if done.action == "promote":
                    with _quiet(), contextlib.suppress(Exception):
                        self.client.delete_registered_model_alias(done.model, CHALLENGER)
                self._export_served(done.model, int(done.to_version))  # type: ignore[arg-type]
            self._record(done)
            made.append(done)
            return {"model": done.model, done.alias: f"v{done.to_version}", "from": f"v{done.from_version}"}

        if self.approver is None:
            perform(None)
            return made[0]
        change_id = self.approver(move, perform)
        if made:
            return made[0]
        pending = dataclasses.replace(move, action=PENDING.get(move.action, f"{move.action}_pending"),
                                      change_id=change_id or move.change_id)  # fmt: skip
        self._record(pending)
        return pending

    def _record(self, move: ModelMove) -> None:
        with _quiet():
            model = self.client.get_registered_model(move.model)
            numbers = [int(m.group(1)) for key in (model.tags or {}) if (m := _MOVE_TAG.match(key))]
            self.client.set_registered_model_tag(move.model, f"{TAG}move.{max(numbers, default=0) + 1:06d}",
                                                 move.to_json()[:5000])  # fmt: skip
        if self.audit is not None:
            self.audit(move)

    def moves(self, name: str) -> list[ModelMove]:
        """Every recorded move of ``name``, oldest first."""
        tags = self._registered(name).tags or {}
        keys = sorted(k for k in tags if _MOVE_TAG.match(k))
        return [ModelMove.from_json(tags[k]) for k in keys]

    def champion_history(self, name: str) -> list[int]:
        """Versions that have been champion, in order, with rolled-back ones removed."""
        history: list[int] = []
        for move in self.moves(name):
            if move.action not in MOVED or move.alias != CHAMPION or move.to_version is None:
                continue  # refused and pending moves moved nothing
            if move.action == "rollback":
                while history and history[-1] != move.to_version:
                    history.pop()
                if not history:
                    history.append(move.to_version)
            else:
                history.append(move.to_version)
        return history

    def promote(
        self,
        name: str,
        *,
        score: Callable[[Any, pd.DataFrame], float],
        actor: str,
        reason: str,
        min_delta: float = 0.0,
        request_approval: bool = False,
    ) -> ModelMove:
        """Make the challenger the champion if it scores better on the challenger's held-back set.

        ``score(estimator, eval_frame)`` returns the model's primary metric on the frame. Raises
        :class:`PromotionRefused` (a Conflict) when the challenger is not strictly better by more than
        ``min_delta``, :class:`Conflict` when there is no challenger. With ``request_approval`` a challenger
        that fails the gate is handed to the approver anyway, marked ``evaluation_passed=False`` (change
        control then raises a normal change that people must approve); that needs an approver.
        Returns the move as made, or as left pending by the approver.
        """
        if request_approval and self.approver is None:
            raise InvalidInput("requesting approval for a promotion that failed its gate needs change control")
        with self._lock():
            model = self._registered(name)
            challenger = self._alias_version(name, CHALLENGER)
            champion = self._alias_version(name, CHAMPION)
            if challenger is None:
                raise Conflict(f"{name} has no challenger to promote (train a new version first)")
            if challenger == champion:
                raise Conflict(f"{name} v{challenger} is already the champion")
            tags = model.tags or {}
            metric = tags.get(TAG + "primary_metric", "score")
            higher = tags.get(TAG + "greater_is_better", "True") == "True"
            if champion is None:
                return self._move(ModelMove(name, "promote", CHAMPION, None, challenger, actor, _now(), reason, {}))
            frame = self.eval_frame(name, challenger)
            new = float(score(self.load_version(name, challenger).estimator, frame))
            old = float(score(self.load_version(name, champion).estimator, frame))
            metrics = {f"challenger_{metric}": new, f"champion_{metric}": old, "eval_rows": float(len(frame))}
            better = (new - old > min_delta) if higher else (old - new > min_delta)
            if not better and request_approval:
                return self._move(ModelMove(name, "promote", CHAMPION, champion, challenger, actor, _now(), reason,
                                            metrics, evaluation_passed=False))  # fmt: skip
            if not better:
                refused = ModelMove(name, "promotion_refused", CHAMPION, champion, challenger, actor, _now(),
                                    reason, metrics)  # fmt: skip
                self._record(refused)
                relation = "does not beat" if new != old else "ties"
                raise PromotionRefused(
                    f"promotion refused: {name} challenger v{challenger} {metric}={new:.4f} {relation} champion "
                    f"v{champion} {metric}={old:.4f} on the held-back evaluation set ({len(frame)} rows)"
                )
            return self._move(ModelMove(name, "promote", CHAMPION, champion, challenger, actor, _now(), reason,
                                        metrics, evaluation_passed=True))  # fmt: skip

    def rollback(self, name: str, *, actor: str, reason: str) -> ModelMove:
        """Point ``champion`` back at the previous champion (verified intact before the move)."""
        with self._lock():
            champion = self._alias_version(name, CHAMPION)
            if champion is None:
                raise Conflict(f"{name} has no champion to roll back")
            history = self.champion_history(name)
            earlier = [v for v in history[:-1] if v != champion] if history and history[-1] == champion else []
            if not earlier:
                raise Conflict(f"{name} v{champion} has no previous champion to roll back to")
            target = earlier[-1]
            self._verified_dir(name, target)  # never point the champion at a corrupt artefact
            return self._move(ModelMove(name, "rollback", CHAMPION, champion, target, actor, _now(), reason, {}))

    def pending(self, name: str) -> list[ModelMove]:
        """Moves of ``name`` left pending under a change request and not carried out since, oldest first."""
        moves = self.moves(name)
        done = {m.change_id for m in moves if m.action in MOVED and m.change_id}
        return [m for m in moves if m.action in PENDING.values() and m.change_id and m.change_id not in done]

    def complete(self, name: str, change_id: str, *, actor: str, reason: str) -> ModelMove:
        """Carry out a pending move once its change request is approved: the same versions as requested,
        refused (Conflict) if the champion moved in the meantime. No evaluation gate: the approvals decide.
        The approver sees the move with its ``change_id`` set, so it completes that change."""
        with self._lock():
            waiting = [m for m in self.pending(name) if m.change_id == change_id]
            if not waiting:
                done = [m for m in self.moves(name) if m.change_id == change_id and m.action in MOVED]
                if done:
                    raise Conflict(f"{change_id} was already carried out ({name} {done[-1].alias} "
                                   f"{_v(done[-1].from_version)} -> {_v(done[-1].to_version)})")  # fmt: skip
                raise NotFound(f"{name} has no move pending under {change_id}")
            request = waiting[-1]
            champion = self._alias_version(name, CHAMPION)
            if champion != request.from_version:
                raise Conflict(f"{name}: the champion is {_v(champion)}, but {change_id} was raised to move it from "
                               f"{_v(request.from_version)}; raise a new request")  # fmt: skip
            assert request.to_version is not None
            self._verified_dir(name, request.to_version)  # never point the champion at a corrupt artefact
            action = next(a for a, p in PENDING.items() if p == request.action)
            return self._move(ModelMove(name, action, CHAMPION, champion, request.to_version, actor, _now(), reason,
                                        request.metrics, change_id, request.evaluation_passed))  # fmt: skip

    # ------------------------------------------------------------------ loading
    def _verified_dir(self, name: str, version: int) -> tuple[Path, str, Any]:
        """The local folder of a version's model files after its sha256 matched the recorded one."""
        mv = self._version(name, version)
        expected = (mv.tags or {}).get(TAG + "sha256")
        if not expected:
            raise ModelIntegrityError(f"model {name} v{version} was not written by triage (no checksum); refusing to load")
        mlflow = _mlflow()
        try:
            with _quiet():
                uri = self.client.get_model_version_download_uri(name, str(version))
        except mlflow.exceptions.MlflowException as exc:
            raise ModelIntegrityError(f"model {name} v{version}: artefact location unknown ({exc})") from exc
        folder = _local_path(uri)
        if folder is None:  # a remote artefact store: fetch a copy first
            with _quiet():
                folder = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=tempfile.mkdtemp()))
        model_path = folder / MODEL_FILE
        if not model_path.is_file():
            raise ModelIntegrityError(f"model {name} v{version}: artefact missing ({model_path})")
        actual = sha256_file(model_path)
        if actual != expected:
            raise ModelIntegrityError(
                f"model {name} v{version}: artefact checksum mismatch (recorded {expected[:12]}…, file "
                f"{actual[:12]}…); refusing to load a modified or corrupt model"
            )
        return folder, actual, mv

    def load_version(self, name: str, version: int) -> LoadedModel:
        folder, digest, mv = self._verified_dir(name, version)
        estimator = _unpickle(folder / MODEL_FILE, f"{name} v{version}")
        return LoadedModel(name, int(version), None, estimator, digest, dict(mv.tags or {}))

    def load(self, name: str, alias: str = CHAMPION) -> LoadedModel:
        """The version an alias points at, from the registry, checksum-verified (native flavour)."""
        version = self._alias_version(name, alias)
        if version is None:
            raise NotFound(f"model {name!r} has no {alias}")
        loaded = self.load_version(name, version)
        return LoadedModel(loaded.name, loaded.version, alias, loaded.estimator, loaded.sha256, loaded.metadata)

    def eval_frame(self, name: str, version: int) -> pd.DataFrame:
        """The held-back evaluation set logged with a version's training run."""
        import pandas as pd

        mv = self._version(name, version)
        if not mv.run_id:
            raise NotFound(f"model {name} v{version} has no training run")
        mlflow = _mlflow()
        try:
            with _quiet(), tempfile.TemporaryDirectory(prefix="triage-eval-") as tmp:
                path = mlflow.artifacts.download_artifacts(run_id=mv.run_id, artifact_path=EVAL_ARTIFACT,
                                                           dst_path=tmp, tracking_uri=self.tracking_uri)  # fmt: skip
                return _tuples(pd.read_parquet(path))
        except mlflow.exceptions.MlflowException:
            raise NotFound(f"model {name} v{version} has no held-back evaluation set") from None

    def _export_served(self, name: str, version: int) -> None:
        folder, digest, mv = self._verified_dir(name, version)
        self.served_dir.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=self.served_dir))
        try:
            shutil.copy2(folder / MODEL_FILE, staging / MODEL_FILE)
            if sha256_file(staging / MODEL_FILE) != digest:
                raise ModelIntegrityError(f"model {name} v{version}: copy for serving does not match its checksum")
            compact = _export_portable(staging / MODEL_FILE, staging / PORTABLE_FILE, f"{name} v{version}")
            tags = dict(mv.tags or {})
            manifest = {
                "name": name, "version": int(version), "alias": CHAMPION, "sha256": digest, "run_id": mv.run_id,
                "tracking_uri": self.tracking_uri, "exported_at": _now().isoformat(),
                "feature_view": tags.get(TAG + "feature_view"), "data_fingerprint": tags.get(TAG + "data_fingerprint"),
                "drain3_config_hash": tags.get(TAG + "drain3_config_hash"),
                "metrics": {k[len(TAG + "metric."):]: float(v) for k, v in tags.items() if k.startswith(TAG + "metric.")},
            }  # fmt: skip
            if compact is not None:
                manifest["portable"] = {"file": PORTABLE_FILE, "sha256": compact}
            (staging / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True), encoding="utf-8")
            _atomic_dir_replace(staging, self.served_dir / name)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise

    # ------------------------------------------------------------------ listing
    def version_info(self, name: str, version: int) -> ModelVersionInfo:
        mv = self._version(name, version)
        aliases = tuple(sorted(a for a, v in (self._registered(name).aliases or {}).items() if int(v) == int(version)))
        return _version_info(mv, aliases)

    def list_models(self, *, max_versions: int = 20) -> list[RegisteredModelInfo]:
        """Every registered model with its aliases and its newest versions (with key metrics)."""
        out = []
        for model in sorted(self._search_models(), key=lambda m: m.name):
            aliases = {a: int(v) for a, v in (getattr(model, "aliases", None) or {}).items()}
            by_version: dict[int, list[str]] = {}
            for alias, version in aliases.items():
                by_version.setdefault(version, []).append(alias)
            with _quiet():
                versions = self.client.search_model_versions(f"name = '{model.name}'", max_results=max_versions,
                                                             order_by=["version_number DESC"])  # fmt: skip
            infos = tuple(_version_info(mv, tuple(sorted(by_version.get(int(mv.version), [])))) for mv in versions)
            out.append(RegisteredModelInfo(model.name, aliases, (model.tags or {}).get(TAG + "primary_metric"), infos))
        return out

    def has_champion(self, name: str) -> bool:
        try:
            return self._alias_version(name, CHAMPION) is not None
        except NotFound:
            return False


def _v(version: int | None) -> str:
    return f"v{version}" if version is not None else "none"


def _tuples(frame: pd.DataFrame) -> pd.DataFrame:
    """Parquet returns list columns (e.g. template sequences) as numpy arrays; give them back as tuples."""
    import numpy as np

    for column in frame.columns:
        if frame[column].dtype == object and len(frame) and isinstance(frame[column].iloc[0], np.ndarray):
            frame[column] = [tuple(v.tolist()) if isinstance(v, np.ndarray) else v for v in frame[column]]
    return frame


def _version_info(mv: Any, aliases: tuple[str, ...]) -> ModelVersionInfo:
    tags = dict(mv.tags or {})
    metrics = {}
    for key, value in tags.items():
        if key.startswith(TAG + "metric."):
            with contextlib.suppress(ValueError):
                metrics[key[len(TAG + "metric."):]] = float(value)
    created = datetime.fromtimestamp(mv.creation_timestamp / 1000, UTC) if mv.creation_timestamp else None
    return ModelVersionInfo(mv.name, int(mv.version), mv.run_id, aliases, created, metrics, tags)
