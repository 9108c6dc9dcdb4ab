"""The registry of trainable models: every module in :data:`BUILDER_MODULES` exposes ``MODEL_SPECS``.

To add a model family: define ``MODEL_SPECS = (ModelSpec(...), ...)`` in its module and add the module
name here. ``triage pipeline run train`` trains every spec (or those a config names) and registers each.
"""

from __future__ import annotations

import importlib

from triage.errors import InvalidInput, NotFound
from triage.modeling.specs import ModelSpec

#: Modules that expose ``MODEL_SPECS``, in training order.
BUILDER_MODULES: tuple[str, ...] = (
    "triage.modeling.classification",  # error-classifier
    "triage.modeling.anomaly",  # session-anomaly, window-anomaly, session-classifier
    "triage.modeling.patterns",  # template-patterns
    "triage.modeling.forecast",  # error-rate-forecaster
)


def model_specs() -> dict[str, ModelSpec]:
    """Every trainable model by registered name."""
    specs: dict[str, ModelSpec] = {}
    for module_name in BUILDER_MODULES:
        module = importlib.import_module(module_name)
        for spec in getattr(module, "MODEL_SPECS", ()):
            if not isinstance(spec, ModelSpec):
                raise InvalidInput(f"{module_name}.MODEL_SPECS holds {type(spec).__name__}, not ModelSpec")
            if spec.name in specs:
                raise InvalidInput(f"model name {spec.name!r} is declared twice")
            specs[spec.name] = spec
    return specs


def model_spec(name: str) -> ModelSpec:
    specs = model_specs()
    if name not in specs:
        raise NotFound(f"unknown model {name!r}; trainable models: {', '.join(sorted(specs)) or 'none'}")
    return specs[name]
