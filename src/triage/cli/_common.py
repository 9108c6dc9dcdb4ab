"""Helpers shared by the command modules: settings from the context, JSON output."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

import typer

from triage.errors import InvalidInput
from triage.settings import Settings


def settings_of(ctx: typer.Context) -> Settings:
    """The Settings built by the root callback (honours --home)."""
    root = ctx.find_root()
    assert isinstance(root.obj, Settings)
    return root.obj


_end_without_teardown = False


def end_without_teardown() -> None:
    """Ask, from a command that has finished and left nothing running, for its process to end without the
    interpreter's teardown. Freeing a large heap object by object (an ingest's miner state, Arrow buffers)
    takes ≈ 0.3 s after the work is done and the store closed. Honoured only by the process entry point."""
    global _end_without_teardown
    _end_without_teardown = True


_own_process = False


def run_as_own_process() -> None:
    """Note that the command runs as the process's own entry point (``triage ...`` on a command line), not
    under a caller of ``main(argv)`` such as a test or a pipeline: nothing runs after it in the process."""
    global _own_process
    _own_process = True


def own_process() -> bool:
    return _own_process


def teardown_skippable() -> bool:
    return _end_without_teardown


def print_json(payload: Any) -> None:
    """One JSON document on one line of stdout."""
    sys.stdout.write(json.dumps(payload, default=str, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def validation_line(exc: Exception, names: dict[str, str] | Callable[[str], str] | None = None) -> str:
    """A pydantic ValidationError as one line naming what was wrong: ``NAME: message`` for its first error,
    ``names`` turning a field into what the user typed (an option or a variable). Pydantic's own text spans
    several lines and ends with a documentation link."""
    errors = getattr(exc, "errors", None)
    if not callable(errors) or not errors():
        return str(exc).splitlines()[0].strip()
    first = errors()[0]
    field = str(first["loc"][0]) if first.get("loc") else ""
    what = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
    table = names if isinstance(names, dict) else {}
    rename = names if callable(names) else (lambda f: table.get(f, f))
    name = rename(field) if field else ""
    return f"{name}: {what}" if name else what


def confirm(question: str, yes: bool) -> None:
    """Ask before a step that replaces state, unless ``--yes``. "No" aborts (exit 130); no answer at all
    (stdin closed or not a terminal that answers) is a usage error (exit 2) naming ``--yes``."""
    if yes:
        return
    try:
        answer = typer.confirm(question, default=False)
    except typer.Abort:  # click's prompt raises it on end of input
        raise InvalidInput(f"{question} needs an answer, and stdin gave none: pass --yes to go ahead") from None
    if not answer:
        raise typer.Abort()
