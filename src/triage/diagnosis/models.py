"""The champions the scorer serves: loaded from their exported copies (``models/served/<name>/``, checked
against their sha256, no MLflow import on the hot path), reloaded when an alias moves, and adapted to what
the engine needs. A champion that fails to load never replaces the last good one; the failure is kept for
``/readyz``."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from triage.diagnosis.engine import Classification
from triage.diagnosis.schemas import Severity
from triage.errors import TriageError
from triage.modeling.classification import MODEL_NAME as CLASSIFIER_NAME
from triage.modeling.tracking import MANIFEST, LoadedModel, load_served


class ChampionClassifier:
    """The registered error classifier behind the engine's ``ErrorClassifier`` protocol."""

    def __init__(self, loaded: LoadedModel) -> None:
        self.loaded = loaded
        self.name = loaded.name
        self.version = str(loaded.version)

    def classify(self, *, content: str, template: str, level: str, service: str) -> Classification:
        frame = pd.DataFrame({"message": [content], "template": [template], "level": [level], "service": [service]})
        row = self.loaded.estimator.predict_frame(frame).iloc[0]
        return Classification(
            category=str(row["category"]),
            category_confidence=float(row["category_confidence"]),
            severity=Severity(str(row["severity"])),
            severity_confidence=float(row["severity_confidence"]),
            source=f"model:{self.name}@{self.version}",
        )


@dataclass
class ServedModels:
    """Watches the served champions of ``names`` and keeps the last good copy of each."""

    served_dir: Path
    names: tuple[str, ...] = (CLASSIFIER_NAME,)
    loaded: dict[str, LoadedModel] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    _seen: dict[str, str] = field(default_factory=dict)  # name -> manifest sha last attempted
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def poll(self, on_failure: Callable[[str, str], None] | None = None) -> bool:
        """Load champions whose exported copy changed since the last poll; True when any changed."""
        changed = False
        for name in self.names:
            manifest = self.served_dir / name / MANIFEST
            try:
                marker = json.loads(manifest.read_text(encoding="utf-8")).get("sha256", "")
            except (OSError, ValueError):
                continue  # not exported yet (no champion): the engine falls back to the reviewed pack
            if self._seen.get(name) == marker:
                continue
            self._seen[name] = marker
            try:
                model = load_served(self.served_dir, name)
            except TriageError as exc:
                self.errors[name] = str(exc)
                if on_failure:
                    on_failure(name, str(exc))
                continue
            with self._lock:
                self.loaded[name] = model
                self.errors.pop(name, None)
            changed = True
        return changed

    def versions(self) -> dict[str, str]:
        with self._lock:
            return {name: str(model.version) for name, model in self.loaded.items()}

    def classifier(self) -> ChampionClassifier | None:
        with self._lock:
            model = self.loaded.get(CLASSIFIER_NAME)
        return ChampionClassifier(model) if model is not None else None

    def describe(self) -> str:
        """For /readyz: what is served, and what failed (the last good model stays in service)."""
        parts = [f"{n} v{v}" for n, v in self.versions().items()] or ["no champion registered (rules only)"]
        if self.errors:
            parts += [f"{n}: load failed, kept last good ({e})" for n, e in self.errors.items()]
        return "; ".join(parts)


def served_names(extra: Iterable[str] = ()) -> tuple[str, ...]:
    return (CLASSIFIER_NAME, *extra)
