"""The `triage` command line. Each domain's commands live in their own module and `register` onto `app`.

Errors a user can fix (TriageError, bad usage) end with exit code 2 and one line on stderr, never a traceback.
"""

from __future__ import annotations

import atexit
import importlib
import os
import sys
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from typer._click.exceptions import ClickException, NoArgsIsHelpError  # typer >= 0.29 vendors click

from triage.cli._common import run_as_own_process, teardown_skippable
from triage.errors import TriageError
from triage.settings import Settings

app = typer.Typer(
    name="triage",
    help="Diagnose outages from logs: ingest, parse, train, diagnose, recover.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    add_completion=False,
)

#: Modules under triage.cli that add commands; each defines `register(app: typer.Typer) -> None`.
COMMAND_MODULES: tuple[str, ...] = ("ingest", "keys", "serve", "bench", "parse", "snapshot", "rollback", "run", "change", "audit", "alerts", "rca", "models", "pipeline", "recover", "replay", "kb", "diagnose")


@app.callback()
def _root(
    ctx: typer.Context,
    home: Annotated[
        Path | None,
        typer.Option("--home", help="Home folder for all state (default: $TRIAGE_HOME or the checkout)."),
    ] = None,
) -> None:
    overrides = {"home": home.resolve()} if home is not None else {}
    try:
        ctx.obj = Settings(**overrides)
    except Exception as exc:  # pydantic ValidationError: a bad TRIAGE_* value
        raise TriageError(f"invalid settings: {_setting_error(exc)}") from exc


def _setting_error(exc: Exception) -> str:
    from triage.cli._common import validation_line

    return validation_line(exc, lambda field: f"TRIAGE_{field.upper()}")


#: Commands added by a module of another name (every other module adds the command it is named after).
COMMANDS_ELSEWHERE = {"templates": "ingest", "version": "ingest"}
_registered: set[str] = set()


def _register(modules: Iterable[str]) -> None:
    for name in modules:
        if name not in _registered:
            importlib.import_module(f"triage.cli.{name}").register(app)
            _registered.add(name)


def modules_for(argv: Sequence[str]) -> tuple[str, ...]:
    """The command modules a run needs: the one adding the command ``argv`` names, or all of them (help, no
    command, an unknown one). Importing and building every command costs ~0.2 s a run, which a short
    command such as an ingest of one file feels."""
    args = iter(argv)
    for arg in args:
        if arg == "--home":  # the root's only option with a value
            next(args, None)
        elif not arg.startswith("--home="):
            module = COMMANDS_ELSEWHERE.get(arg, arg)
            return (module,) if not arg.startswith("-") and module in COMMAND_MODULES else COMMAND_MODULES
    return COMMAND_MODULES


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point; maps user errors to exit code 2 with a single line."""
    _register(modules_for(sys.argv[1:] if argv is None else argv))
    if argv is None:
        run_as_own_process()
    try:
        code = typer.main.get_command(app).main(args=argv, prog_name="triage", standalone_mode=False)
    except NoArgsIsHelpError as exc:
        print(exc.format_message())
        sys.exit(0)
    except ClickException as exc:
        _fail(exc.format_message())
    except typer.Abort:
        print("triage: aborted", file=sys.stderr)
        sys.exit(130)
    except TriageError as exc:
        _fail(str(exc))
    except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        _fail(f"{exc.strerror}: {exc.filename}")
    except UnicodeDecodeError as exc:  # a file given as text (YAML, JSON, CSV) that is not UTF-8
        _fail(f"a file given is not UTF-8 text ({exc.reason} at byte {exc.start})")
    except KeyboardInterrupt:
        print("triage: interrupted", file=sys.stderr)
        sys.exit(130)
    code = code if isinstance(code, int) else 0
    if argv is None and teardown_skippable():  # the process's own entry point, not a caller of main()
        _exit_now(code)
    sys.exit(code)


def _exit_now(code: int) -> NoReturn:
    """End the process as the interpreter would, minus its teardown: atexit handlers run and output is flushed,
    but objects are not freed one by one. Falls back to a normal exit while a non-daemon thread still runs."""
    if any(t.is_alive() and not t.daemon for t in threading.enumerate() if t is not threading.main_thread()):
        sys.exit(code)
    sys.stdout.flush()
    sys.stderr.flush()
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _fail(message: str) -> None:
    line = " ".join(str(message).split())  # one line, whatever the message held
    print(f"triage: error: {line}", file=sys.stderr)
    sys.exit(2)
