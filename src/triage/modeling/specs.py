"""What a trainable model declares so the lifecycle can train, register, promote and serve it.

Each model family exposes ``MODEL_SPECS: tuple[ModelSpec, ...]`` in its module, and that module is listed
in :data:`triage.modeling.registry.BUILDER_MODULES`. A spec's ``build`` takes the :class:`TrainingInputs`
(everything the training pipeline loaded: the store's events and templates, labelled tables, analyst
feedback, this model's parameters) and returns a fitted model with its metrics; ``score`` is the primary
metric of a model on a held-back evaluation frame, which promotion uses to compare a challenger with
the champion on the same rows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import pandas as pd

from triage.errors import InvalidInput

C = TypeVar("C")


class InsufficientData(InvalidInput):
    """The training data lacks what a model needs (no sessions of its key, no labels, no timestamps).

    When a pipeline trains *every* model, one that raises this is reported as skipped (with this message)
    instead of failing the run: a store of web-service logs has no HDFS block sessions, say. When the
    model is named explicitly, it is an error like any other.
    """


def model_config(config_type: type[C], model: str, params: dict[str, Any]) -> C:
    """A model's pydantic config from a pipeline's ``train.params`` entry; a bad value names its parameter."""
    from pydantic import ValidationError

    try:
        return config_type(**dict(params))
    except ValidationError as exc:
        err = exc.errors()[0]
        raise InvalidInput(f"{model} parameter {'.'.join(map(str, err['loc']))}: {err['msg']}") from exc


@dataclass(frozen=True)
class TrainingInputs:
    """Everything a builder may read; pure data (the pipeline did the I/O)."""

    events: pd.DataFrame  # the store's events (triage.features.store.EVENT_COLUMNS), may be empty
    templates: pd.DataFrame  # the store's templates (template_id, text, version, count, ...)
    label_tables: Mapping[str, pd.DataFrame] = field(default_factory=dict)  # e.g. "bgl_alerts" -> frame
    feedback: pd.DataFrame | None = None  # analyst corrections (see triage.modeling.labels)
    params: Mapping[str, Any] = field(default_factory=dict)  # this model's parameters from the config
    random_state: int = 0


class Trained(Protocol):
    """What a builder returns (``TrainedClassifier``, ``anomaly.TrainedModel`` and the like)."""

    estimator: Any
    metrics: dict[str, float]
    params: dict[str, Any]
    feature_view: str


def held_back_frame(trained: Any) -> pd.DataFrame | None:
    """The held-back evaluation frame a builder kept (``eval_frame`` or ``eval_sessions``), if any."""
    for attribute in ("eval_frame", "eval_sessions"):
        frame = getattr(trained, attribute, None)
        if isinstance(frame, pd.DataFrame):
            return frame
    return None


@dataclass(frozen=True)
class ModelSpec:
    """A registered model's name, how to build it, and how to score it for promotion."""

    name: str
    description: str
    build: Callable[[TrainingInputs], Trained]
    score: Callable[[Any, pd.DataFrame], float]
    primary_metric: str
    greater_is_better: bool = True
