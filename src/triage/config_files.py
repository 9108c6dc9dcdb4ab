"""Operator configuration files: YAML read into a pydantic model, with one clear line when it is wrong."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from triage.errors import InvalidInput

M = TypeVar("M", bound=BaseModel)


def load_yaml_model(path: Path | None, model: type[M], *, error: type[InvalidInput] = InvalidInput) -> M:
    """The configuration in ``path`` (YAML) as ``model``, or the model's defaults when there is no such file.
    A file that is not YAML, not a mapping, or not valid for the model is an ``error`` (an
    :class:`InvalidInput`) naming the file and the first bad field."""
    if path is None or not path.exists():
        return model()
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise error(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(raw, dict):
        raise error(f"{path}: expected a mapping at the top level")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        # a check of the whole file (a model validator) names no field
        where = ".".join(str(p) for p in first["loc"]) or "top level"
        raise error(f"{path}: {where}: {first['msg']}") from None
