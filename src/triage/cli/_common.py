"""Helpers shared by the command modules: settings from the context, JSON output."""

from __future__ import annotations

import json
import sys
from typing import Any

import typer

from triage.settings import Settings


def settings_of(ctx: typer.Context) -> Settings:
    """The Settings built by the root callback (honours --home)."""
    root = ctx.find_root()
    assert isinstance(root.obj, Settings)
    return root.obj


def print_json(payload: Any) -> None:
    """One JSON document on one line of stdout."""
    sys.stdout.write(json.dumps(payload, default=str, separators=(",", ":")) + "\n")
    sys.stdout.flush()
