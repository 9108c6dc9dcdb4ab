"""`triage run` (what `make run` calls): bring a home folder to a working state, one step after another,
then serve it and give a new user something to look at.

1. the home's folders and the store's schema;
2. the bundled sample logs, when the store holds no events yet;
3. the models: train and register a champion for every model that has none (H7's pipeline, in process);
4. an admin API key, created and printed once when the store has none;
5. the scorer and dashboard on uvicorn in the foreground; once ``/readyz`` answers, a background thread
   replays the bundled incident (a Nezha TrainTicket case) through the API as its services would post it,
   once per home, and prints where to look.

Each step is idempotent and says what it did, so running it again on a working home does almost nothing.
``--no-serve`` stops after step 4; ``--no-replay`` skips the replay; ``--exit-when-ready`` stops the server
once the replay is done (smoke tests, CI). Bad states give one line and exit code 2.
"""

from __future__ import annotations

import json
import logging
import signal
import socket
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from triage.cli._common import settings_of
from triage.errors import Conflict, InvalidInput, TriageError
from triage.settings import Settings

if TYPE_CHECKING:
    import uvicorn

READY_TIMEOUT_SECONDS = 180.0
ADMIN_KEY_NAME = "admin (triage run)"
Say = Callable[[str], None]


def register(app: typer.Typer) -> None:
    app.command("run")(run_command)


def run_command(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option("--host", help="default: $TRIAGE_API_HOST or 127.0.0.1")] = None,
    port: Annotated[
        int | None, typer.Option("--port", help="default: $TRIAGE_API_PORT or 8000; 0 picks a free port")
    ] = None,
    serve: Annotated[bool, typer.Option("--serve/--no-serve", help="Serve after setting up (steps 1-4).")] = True,
    replay: Annotated[
        bool, typer.Option("--replay/--no-replay", help="Replay the bundled incident once per home.")
    ] = True,
    pipeline: Annotated[
        str, typer.Option("--pipeline", help="Pipeline that trains missing champions (pipelines/configs/NAME.yaml).")
    ] = "train",
    pipeline_config: Annotated[
        Path | None, typer.Option("--pipeline-config", help="A pipeline YAML file instead of --pipeline.")
    ] = None,
    replay_speed: Annotated[
        float, typer.Option("--replay-speed", help="Time compression of the replay (10: 3 minutes in 18 s).")
    ] = 10.0,
    exit_when_ready: Annotated[
        bool, typer.Option("--exit-when-ready", help="Stop the server once it is ready and the replay is done.")
    ] = False,
) -> None:
    """Set up the home (samples, models, admin key), then serve the API and dashboard."""
    settings = settings_of(ctx)

    def say(message: str) -> None:
        typer.echo(f"triage run: {message}")

    if replay_speed <= 0:
        raise InvalidInput("--replay-speed must be greater than 0")
    training = training_pipeline(pipeline, pipeline_config)
    listener = None
    if serve:  # fail before the long steps when the address is taken
        listener = listen(host or settings.api_host, settings.api_port if port is None else port)
    try:
        say(ensure_home(settings))
        say(ingest_samples_if_empty(settings))
        say(train_models_if_missing(settings, training, progress=lambda m: say(f"  {m}")))
        for line in ensure_admin_key(settings):
            typer.echo(line)
        if listener is None:
            say("set up; not serving (--no-serve). Serve with: triage run (or triage serve)")
            return
        serve_with_first_look(settings, listener, replay=replay, speed=replay_speed,
                              exit_when_ready=exit_when_ready, say=say)  # fmt: skip
    finally:
        if listener is not None:
            listener.close()


# --------------------------------------------------------------------------------------------- step 1, 2
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


# --------------------------------------------------------------------------------------------- step 3
def models_without_champion(settings: Settings, names: list[str]) -> list[str]:
    """Which of ``names`` have no ``champion`` in the home's registry.

    Opening the MLflow registry costs seconds, so the serving copies come first: every champion move
    exports ``models/served/<name>/manifest.json`` (see ``triage.modeling.tracking``). Only a model
    without one from this tracking store is looked up in the registry itself.
    """
    from triage.modeling.tracking import CHAMPION, MANIFEST, SERVED_DIR_NAME, ModelTracker

    def served(name: str) -> bool:
        try:
            manifest = json.loads((settings.models_dir / SERVED_DIR_NAME / name / MANIFEST).read_text("utf-8"))
        except (OSError, ValueError):
            return False
        return (isinstance(manifest, dict) and manifest.get("alias") == CHAMPION
                and manifest.get("tracking_uri") == settings.tracking_uri)  # fmt: skip

    unsure = [name for name in names if not served(name)]
    if not unsure:
        return []
    tracker = ModelTracker.from_settings(settings)
    return [name for name in unsure if not tracker.has_champion(name)]


def training_pipeline(pipeline: str = "train", config_file: Path | None = None) -> Any:
    """The validated pipeline config that trains missing champions (read before the long steps, so a bad
    name or file fails at once)."""
    from triage.modeling.pipeline import config_path, load_config

    config = load_config(config_path(pipeline, config_file))
    if not {"train", "register"} <= set(config.steps):
        raise InvalidInput(f"pipeline {config.name!r} does not train and register models; choose another --pipeline")
    return config


def train_models_if_missing(settings: Settings, config: Any, *, progress: Say | None = None) -> str:
    """Run the training pipeline ``config`` (see :func:`training_pipeline`) for the models that have no
    champion (each new model registers as champion); leave models that have one alone. Says what it did."""
    if config.train.models is not None:
        wanted = list(config.train.models)
    else:  # every trainable model (importing the registry imports the model families)
        from triage.modeling.registry import model_specs

        wanted = list(model_specs())
    missing = models_without_champion(settings, wanted)
    if not missing:
        return f"champions registered for {', '.join(wanted)}; not retrained"
    from triage.modeling.lifecycle import audit_sink, default_actor  # pandas & co: only when training
    from triage.modeling.pipeline import run_pipeline

    only_missing = config.model_copy(update={"train": config.train.model_copy(update={"models": tuple(missing)})})
    report = run_pipeline(only_missing, settings, actor=default_actor(),
                          reason=f"triage run: no champion registered (pipeline {config.name})",
                          audit=audit_sink(settings), progress=progress)  # fmt: skip
    done = ", ".join(
        f"{m.name} v{m.version} [{', '.join(m.aliases) or 'no alias'}] in {m.seconds:.1f} s" for m in report.models
    )
    return f"trained and registered {done} (pipeline {config.name}, {report.seconds:.1f} s)"


# --------------------------------------------------------------------------------------------- step 4
def ensure_admin_key(settings: Settings) -> list[str]:
    """Create an admin key when none is active and return the lines that show it (once, on stdout only:
    the store keeps a hash). When one exists, say so without showing anything secret."""
    from triage.access.keys import KeyStore, Role
    from triage.storage.database import Database

    prefix = "triage run: "
    if settings.api_bootstrap_key is not None:
        return [prefix + "admin access: the key in TRIAGE_API_BOOTSTRAP_KEY (no stored key created)"]
    keys = KeyStore(Database(settings.store_path))
    admins = [k for k in keys.list() if k.role is Role.ADMIN and k.revoked_at is None]
    if admins:
        first = admins[0]
        return [prefix + f"admin API key exists ({first.key_id}, {first.name!r}); it is not shown again. "
                         "Lost it? triage keys create --role admin --name NAME"]  # fmt: skip
    issued = keys.create(name=ADMIN_KEY_NAME, role=Role.ADMIN, created_by="triage run")
    return [
        prefix + f"created admin API key {issued.key.key_id}. It is shown this once (the store keeps only a hash);"
        " the dashboard asks for it, API clients send it as 'Authorization: Bearer KEY':",
        issued.secret,
    ]


# --------------------------------------------------------------------------------------------- step 5
def listen(host: str, port: int) -> socket.socket:
    """A bound TCP socket for the server (port 0: any free port), or one clear error."""
    if not 0 <= port <= 65535:
        raise InvalidInput(f"--port must be 0-65535, not {port}")
    try:
        family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as exc:
        raise InvalidInput(f"cannot listen on {host!r}: {exc.strerror}") from None
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise Conflict(f"cannot listen on {host}:{port}: {exc.strerror} (another server there? pass --port)") from None
    sock.set_inheritable(True)
    return sock


def uvicorn_server(app: Any) -> uvicorn.Server:
    """The server for ``app``, as `triage serve` and `triage run` run it (see :func:`run_server`)."""
    import uvicorn

    class Server(uvicorn.Server):
        interrupted = False  # Ctrl-C reached it

        def handle_exit(self, sig: int, frame: Any) -> None:
            self.interrupted = self.interrupted or sig == signal.SIGINT
            super().handle_exit(sig, frame)

    return Server(uvicorn.Config(app, access_log=False, log_config=None, timeout_graceful_shutdown=10))


def run_server(server: uvicorn.Server, listener: socket.socket) -> None:
    """Serve until stopped; after Ctrl-C and the graceful shutdown, raise KeyboardInterrupt (exit 130).

    uvicorn re-raises the SIGINT it caught once it has shut down, and asyncio's runner handles that signal as a
    cancellation of its main task, which is just finishing; now and then no KeyboardInterrupt came out of it
    and the process exited 0 after a Ctrl-C. The server notes the SIGINT itself instead of relying on that."""
    server.run(sockets=[listener])
    if getattr(server, "interrupted", False):
        raise KeyboardInterrupt


def base_url(sock: socket.socket) -> str:
    """How a local client reaches the server on ``sock`` (a wildcard address is reached over loopback)."""
    host, port = sock.getsockname()[:2]
    if host in ("0.0.0.0", ""):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def replay_marker(settings: Settings, case_id: str) -> Path:
    """Written after the bundled incident was replayed into this home, so it is replayed once."""
    return settings.data_dir / "replays" / f"{case_id}.json"


def serve_with_first_look(
    settings: Settings, listener: socket.socket, *, replay: bool, speed: float, exit_when_ready: bool, say: Say
) -> None:
    """uvicorn in the foreground on ``listener``; the first look runs beside it once the server is ready."""
    from triage.api.app import create_app
    from triage.api.logging import configure_logging
    from triage.cli.replay import bundled_incident

    url = base_url(listener)
    host = listener.getsockname()[0]
    folder = bundled_incident(settings) if replay else None
    if not replay:
        say("replay of the bundled incident skipped (--no-replay)")
    if folder is not None:
        marker = replay_marker(settings, folder.name)
        if marker.is_file():
            say(f"bundled incident already replayed into this home ({marker}); not replayed again")
            folder = None
        elif not folder.is_dir():
            say(f"no bundled incident at {folder}; nothing to replay")
            folder = None
    if host not in ("127.0.0.1", "::1", "localhost"):
        say(f"listening on {host}: reachable from other machines; keep the admin key safe")
    configure_logging(settings.log_level)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # the replay's own requests would flood the log
    server = uvicorn_server(create_app(settings, freeze_heap=True))
    stop = threading.Event()
    outcome: dict[str, str] = {}
    helper = threading.Thread(
        target=first_look, name="triage-first-look", daemon=True,
        args=(settings, server, url, folder, speed, exit_when_ready, stop, outcome, say),
    )  # fmt: skip
    say(f"starting the API and dashboard on {url} (Ctrl-C stops it)")
    helper.start()
    try:
        run_server(server, listener)
    except SystemExit as exc:  # uvicorn exits when the app's startup fails; it has logged why
        outcome.setdefault("error", f"the server did not start (exit {exc.code}); see the log lines above")
    finally:
        stop.set()
        helper.join(15)
    if "error" in outcome:
        raise TriageError(outcome["error"])


def first_look(
    settings: Settings,
    server: uvicorn.Server,
    url: str,
    folder: Path | None,
    speed: float,
    exit_when_ready: bool,
    stop: threading.Event,
    outcome: dict[str, str],
    say: Say,
) -> None:
    """Wait for ``/readyz``, print where to look, replay the bundled incident (once per home)."""
    try:
        logs = None
        if folder is not None:
            from triage.rca.replay import read_case_logs

            logs = read_case_logs(folder)  # while the server starts
        wait_until_ready(url, stop)
        say(f"ready: command center {url}/  status page {url}/status  history {url}/history  API docs {url}/docs")
        if folder is not None and logs is not None and not stop.is_set():
            replay_bundled(settings, url, folder, logs, speed=speed, stop=stop, say=say)
            say(f"open {url}/ (paste the admin key when asked) to see the incident, its alerts and recovery plan")
    except Exception as exc:  # the server keeps serving; the user gets one line, not a traceback
        if stop.is_set() or server.should_exit:
            say("replay interrupted: the server is stopping")  # Ctrl-C: not a failure
            return
        outcome["error"] = str(exc) if isinstance(exc, TriageError) else f"{type(exc).__name__}: {exc}"
        outcome["error"] = outcome["error"].splitlines()[0] if outcome["error"] else type(exc).__name__
        say(f"first look failed: {outcome['error']}")
    finally:
        if exit_when_ready:
            server.should_exit = True


def wait_until_ready(url: str, stop: threading.Event, *, timeout: float = READY_TIMEOUT_SECONDS) -> None:
    """Poll ``/readyz`` until it answers 200; raise with the failing checks when it does not in time."""
    import httpx

    deadline = time.monotonic() + timeout
    last = "no answer yet"
    while time.monotonic() < deadline:
        if stop.is_set():
            raise TriageError("the server stopped before it was ready")
        try:
            response = httpx.get(f"{url}/readyz", timeout=10)
            if response.status_code == 200:
                return
            checks = response.json().get("checks", {})
            last = "; ".join(f"{k}: {v.get('detail')}" for k, v in checks.items() if not v.get("ok")) or str(
                response.status_code
            )
        except (httpx.HTTPError, ValueError) as exc:
            last = type(exc).__name__
        stop.wait(0.25)
    raise TriageError(f"the server was not ready after {timeout:.0f} s ({last})")


def replay_bundled(
    settings: Settings, url: str, folder: Path, logs: Any, *, speed: float, stop: threading.Event, say: Say
) -> None:
    """Post the bundled incident's errors with a temporary service key; remember it was replayed."""
    from triage.cli.replay import describe, revoke_key, send_replay, temporary_service_key
    from triage.rca.replay import case_facts, incidents_seen, plan_replay

    facts = case_facts(folder)
    key_id, secret = temporary_service_key(settings)
    try:
        plan = plan_replay(logs, start=datetime.now(UTC), speed=speed, case_id=folder.name)
        system = {"trainticket": "TrainTicket"}.get(str(facts.get("system")), str(facts.get("system") or "a"))
        say(f"replaying a recorded {system} incident (Nezha case {folder.name}): {len(plan.events)} errors from "
            f"{len(plan.services)} services over {plan.seconds:.0f} s, as the services would post them")  # fmt: skip
        result = send_replay(plan, base_url=url, key=secret, stop=stop)
    finally:
        revoke_key(settings, key_id)
    for line in describe(plan, result, facts):
        say(line)
    if result.stopped:
        return
    marker = replay_marker(settings, folder.name)
    marker.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "case": folder.name, "replayedAt": datetime.now(UTC).isoformat(), "events": result.posted,
        "speed": speed, "incidents": [i.incident_id for i in incidents_seen(result.diagnoses)],
    }  # fmt: skip
    tmp = marker.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    tmp.replace(marker)
