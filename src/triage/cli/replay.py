"""`triage replay [CASE_DIR]`: post a recorded incident's errors to a running triage server, as its services
would have posted them, in time-compressed order. Also the sender `triage run` uses for its first look.

The events come from :mod:`triage.rca.replay` (pure); this module is the HTTP edge: it waits until each
event is due, posts it to ``/v1/diagnose`` (or, when several are due at once, to ``/v1/errors:batch``)
and collects the diagnoses the server returns.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from triage.cli._common import print_json, settings_of

if TYPE_CHECKING:
    from triage.rca.replay import ReplayPlan
    from triage.settings import Settings

#: The bundled incident `triage run` replays on a fresh home (a Nezha TrainTicket case; see its README).
BUNDLED_INCIDENT = "tt-20230129-0912-ts-basic-service-return"
MAX_BATCH = 1000  # /v1/errors:batch accepts up to this many events
REPLAY_KEY_NAME = "sample-replay"


@dataclass
class ReplayResult:
    """What the server answered: one diagnosis per posted event, in posting order."""

    posted: int = 0
    requests: int = 0
    seconds: float = 0.0
    diagnoses: list[dict[str, Any]] = field(default_factory=list)
    stopped: bool = False  # the caller asked to stop before every event was posted


def bundled_incident(settings: Settings) -> Path:
    """The folder of the bundled incident (``data/samples/incidents/<case>``)."""
    return settings.samples_dir / "incidents" / BUNDLED_INCIDENT


def send_replay(
    plan: ReplayPlan,
    *,
    base_url: str,
    key: str,
    stop: threading.Event | None = None,
    timeout: float = 30.0,
    clock: Callable[[], float] = time.monotonic,
) -> ReplayResult:
    """Post ``plan``'s events to the server at ``base_url`` on their schedule (offset seconds after now).

    Raises :class:`~triage.rca.replay.ReplayError` when the server cannot be reached or refuses an event.
    """
    import httpx

    from triage.rca.replay import ReplayError

    stop = stop or threading.Event()
    result = ReplayResult()
    events = plan.events
    began = clock()
    headers = {"Authorization": f"Bearer {key}", "User-Agent": "triage-replay"}
    with httpx.Client(base_url=base_url.rstrip("/"), headers=headers, timeout=timeout) as client:
        i = 0
        while i < len(events):
            wait = events[i].offset - (clock() - began)
            if (wait > 0 and stop.wait(wait)) or stop.is_set():
                result.stopped = True
                break
            due = clock() - began
            j = i + 1
            while j < len(events) and j - i < MAX_BATCH and events[j].offset <= due:
                j += 1
            batch = events[i:j]
            if len(batch) == 1:
                path, body = "/v1/diagnose", batch[0].payload()
            else:
                path, body = "/v1/errors:batch", {"events": [e.payload() for e in batch]}
            try:
                response = client.post(path, json=body)
            except httpx.HTTPError as exc:
                raise ReplayError(f"cannot reach {base_url}: {exc}".splitlines()[0]) from exc
            if response.status_code >= 400:
                raise ReplayError(f"POST {path} answered {response.status_code}: {_problem(response)}")
            answer = response.json()
            result.diagnoses.extend(answer if isinstance(answer, list) else [answer])
            result.posted += len(batch)
            result.requests += 1
            i = j
    result.seconds = clock() - began
    return result


def describe(plan: ReplayPlan, result: ReplayResult, facts: Mapping[str, Any]) -> list[str]:
    """Lines telling the user what the replay did and what triage concluded (with the dataset's answer,
    when the case records one, to compare)."""
    from triage.rca.replay import incidents_seen

    lines = [f"replayed {result.posted} of {len(plan.events)} error events from {len(plan.services)} services "
             f"({plan.source_seconds:.0f} s of the original incident at {plan.speed:g}x) in {result.seconds:.1f} s"
             f" with {result.requests} request(s)"]  # fmt: skip
    if plan.skipped:
        lines.append("not replayed: " + ", ".join(f"{n} line(s) with {why}" for why, n in plan.skipped.items()))
    seen = incidents_seen(result.diagnoses)
    if not seen:
        lines.append("no incident was opened (every diagnosis was low severity)")
    for incident in seen:
        confidence = f", confidence {incident.confidence:.2f}" if isinstance(incident.confidence, int | float) else ""
        lines.append(
            f"incident {incident.incident_id}: root cause {incident.root_cause_service or '?'}{confidence}; "
            f"{incident.diagnoses} diagnoses (worst {incident.severity}, latest category {incident.category});"
            f" affected {', '.join(incident.affected_services) or '-'}"
        )
    if facts.get("root_cause_service"):
        what = f" ({facts['fault_type']} fault)" if facts.get("fault_type") else ""
        lines.append(f"the dataset records the injected fault in {facts['root_cause_service']}{what}")
    return lines


def _problem(response: Any) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict):
        return str(body.get("detail") or body.get("title") or body)[:300]
    return str(body)[:300]


def temporary_service_key(settings: Settings) -> tuple[str, str]:
    """A fresh ``service`` key for posting the replay (id, secret); stale ones from an interrupted replay
    are revoked first. Revoke it with :func:`revoke_key` when done."""
    from triage.access.keys import KeyStore, Role
    from triage.storage.database import Database

    keys = KeyStore(Database(settings.store_path))
    for old in keys.list():
        if old.name == REPLAY_KEY_NAME and old.role is Role.SERVICE and old.revoked_at is None:
            keys.revoke(old.key_id)
    issued = keys.create(name=REPLAY_KEY_NAME, role=Role.SERVICE, created_by="triage replay")
    return issued.key.key_id, issued.secret


def revoke_key(settings: Settings, key_id: str) -> None:
    from triage.access.keys import KeyStore
    from triage.errors import NotFound
    from triage.storage.database import Database

    with contextlib.suppress(NotFound):  # already revoked
        KeyStore(Database(settings.store_path)).revoke(key_id)


def register(app: typer.Typer) -> None:
    app.command("replay")(replay_command)


def replay_command(
    ctx: typer.Context,
    case_dir: Annotated[
        Path | None, typer.Argument(help="A Nezha case folder or incident bundle (default: the bundled incident).")
    ] = None,
    url: Annotated[str | None, typer.Option("--url", help="The server (default: http://API_HOST:API_PORT).")] = None,
    speed: Annotated[float, typer.Option("--speed", help="Time compression: 10 posts 3 minutes in 18 s.")] = 10.0,
    levels: Annotated[str, typer.Option("--levels", help="Comma-separated log levels to post.")] = "ERROR",
    max_events: Annotated[int | None, typer.Option("--max-events", help="Post only the first N events.")] = None,
    key_file: Annotated[
        Path | None,
        typer.Option("--key-file", help="A file holding a service/engineer/admin key. Default: a temporary "
                                        "service key in this home's store, revoked afterwards."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the diagnoses' summary as JSON.")] = False,
) -> None:
    """Replay a recorded incident against a running server, as its services would have posted it."""
    from dataclasses import asdict
    from datetime import UTC, datetime

    from triage.errors import InvalidInput
    from triage.rca.replay import case_facts, incidents_seen, plan_replay, read_case_logs

    settings = settings_of(ctx)
    folder = case_dir or bundled_incident(settings)
    logs = read_case_logs(folder)
    base_url = url or f"http://{settings.api_host}:{settings.api_port}"
    key_id = None
    if key_file is not None:
        secret = next(iter(key_file.read_text(encoding="utf-8").split()), "")
        if not secret:
            raise InvalidInput(f"{key_file}: no key in the file")
    else:
        key_id, secret = temporary_service_key(settings)
    try:
        plan = plan_replay(logs, start=datetime.now(UTC), speed=speed, levels=levels.split(","),
                           case_id=folder.name, max_events=max_events)  # fmt: skip
        if not as_json:
            typer.echo(f"replaying {len(plan.events)} events from {folder.name} to {base_url} "
                       f"over {plan.seconds:.1f} s ...")  # fmt: skip
        result = send_replay(plan, base_url=base_url, key=secret)
    finally:
        if key_id is not None:
            revoke_key(settings, key_id)
    if as_json:
        print_json({"case": folder.name, "posted": result.posted, "requests": result.requests,
                    "seconds": round(result.seconds, 3), "skipped": dict(plan.skipped),
                    "incidents": [asdict(i) for i in incidents_seen(result.diagnoses)]})  # fmt: skip
        return
    for line in describe(plan, result, case_facts(folder)):
        typer.echo(line)
