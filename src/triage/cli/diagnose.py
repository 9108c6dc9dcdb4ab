"""`triage diagnose --service S --message M`: one diagnosis without the server, nothing stored.

The engine is the API's (:func:`triage.api.runtime.build_engine`: parser state, knowledge base, open
incidents) with the served champions swapped in the way ``Runtime.reload_models`` does, so the result is
what ``POST /v1/diagnose`` would return for the same event. It is a one-off: no diagnosis, incident or
journal entry is written. On a home without a store (nothing ingested yet) the engine is built from the
same parts without one, so the store is not created either; without a champion the reviewed rules decide.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer

from triage.cli._common import settings_of
from triage.errors import InvalidInput

if TYPE_CHECKING:
    from triage.diagnosis.engine import DiagnosisEngine
    from triage.diagnosis.schemas import Diagnosis, ErrorEvent
    from triage.settings import Settings

#: ErrorEvent field -> the option that sets it (to name the bad one in an error).
OPTION_OF = {"service": "--service", "message": "--message", "level": "--level", "timestamp": "--timestamp",
             "stack_trace": "--stack-trace", "trace_id": "--trace-id"}  # fmt: skip
#: How many suggested fixes / articles the human summary shows (--json has them all).
TOP = 3


def register(app: typer.Typer) -> None:
    @app.command("diagnose")
    def diagnose(
        ctx: typer.Context,
        message: Annotated[str, typer.Option("--message", help="The error message.")],
        service: Annotated[str, typer.Option("--service", help="The service that logged it.")],
        level: Annotated[str, typer.Option("--level", help="Log level.")] = "ERROR",
        timestamp: Annotated[
            str | None,
            typer.Option(
                "--timestamp", help="When it happened, ISO 8601 with a timezone (default: now, UTC)."
            ),
        ] = None,
        stack_trace: Annotated[
            str | None, typer.Option("--stack-trace", help="The stack trace, if any.")
        ] = None,
        trace_id: Annotated[
            str | None, typer.Option("--trace-id", help="Distributed trace id, if any.")
        ] = None,
        as_json: Annotated[
            bool, typer.Option("--json", help="Print the diagnosis JSON exactly as the API returns it.")
        ] = False,
    ) -> None:
        """Diagnose one error without the server; nothing is stored (uses the served champion if any)."""
        settings = settings_of(ctx)
        event = error_event(service=service, message=message, level=level, timestamp=timestamp,
                            stack_trace=stack_trace, trace_id=trace_id)  # fmt: skip
        engine = one_off_engine(settings)
        outcome = engine.diagnose(event)
        diagnosis = outcome.diagnosis
        if outcome.assignment is not None and outcome.assignment.opened:
            # the incident it would open is not stored (a one-off): name no incident rather than a phantom one
            diagnosis = diagnosis.model_copy(update={"incident_id": None})
        if as_json:
            # the API's response body is this very string (Runtime.diagnose)
            typer.echo(diagnosis.model_dump_json())
            return
        _summary(diagnosis)


def error_event(*, service: str, message: str, level: str, timestamp: str | None, stack_trace: str | None,
                trace_id: str | None) -> ErrorEvent:  # fmt: skip
    """The ErrorEvent the options describe; a bad value is an InvalidInput naming its option."""
    from pydantic import ValidationError

    from triage.diagnosis.schemas import ErrorEvent

    try:
        return ErrorEvent(service=service, message=message, level=level,
                          timestamp=timestamp if timestamp is not None else datetime.now(UTC),
                          stack_trace=stack_trace, trace_id=trace_id)  # fmt: skip
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first.get("loc") else ""
        what = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
        shown = f" {timestamp!r}" if field == "timestamp" else ""
        raise InvalidInput(f"{OPTION_OF.get(field, field or 'event')}{shown}: {what}") from None


def one_off_engine(settings: Settings) -> DiagnosisEngine:
    """The API's engine for this home, with the served champions in it; never writes anything."""
    from triage.api.runtime import build_engine
    from triage.diagnosis.engine import EngineState
    from triage.diagnosis.models import ServedModels

    engine = build_engine(settings) if settings.store_path.exists() else _storeless_engine(settings)
    models = ServedModels(settings.models_dir / "served")
    models.poll(on_failure=lambda name, error: typer.echo(
        f"triage: warning: champion {name} not used: {' '.join(error.split())}", err=True))  # fmt: skip
    state = engine.state
    engine.set_state(EngineState(classifier=models.classifier(), model_versions=models.versions(),
                                 incident_index=state.incident_index, causes=state.causes,
                                 patterns=state.patterns))  # fmt: skip
    return engine


def _storeless_engine(settings: Settings) -> DiagnosisEngine:
    """What build_engine makes for an empty store, without creating one: a fresh parser (today's rules), the
    reviewed knowledge pack with no imported articles or outcomes, no open or past incidents."""
    from triage.diagnosis.engine import DiagnosisEngine, EngineState
    from triage.features.ingest_job import load_parser
    from triage.features.store import FeatureStore
    from triage.incidents.grouping import IncidentGrouper
    from triage.knowledge.base import KnowledgeBase
    from triage.knowledge.pack import load_pack

    return DiagnosisEngine(
        parser=load_parser(settings, FeatureStore(settings)),  # no store: no saved state, opens nothing
        knowledge=KnowledgeBase(load_pack(), [], {}),
        grouper=IncidentGrouper(),
        state=EngineState(),
    )


def _summary(d: Diagnosis) -> None:
    root = d.root_cause
    decided = d.evidence.model_scores.get("decidedBy", "?")
    models = ", ".join(f"{n} v{v}" for n, v in sorted(d.model_versions.items())) or "none (rules only)"
    typer.echo(f"{d.severity.value} {d.category}  ({d.error_id}; a one-off, not stored)")
    typer.echo(f"root cause: {root.service}: {root.issue} (confidence {root.confidence:.0%})")
    if len(d.affected_services) > 1:
        typer.echo(f"affected:   {', '.join(d.affected_services)}")
    typer.echo(f"decided by: {decided}; models: {models}")
    if d.evidence.template:
        typer.echo(f"template:   {d.evidence.template}")
    if d.suggested_fixes:
        typer.echo("fixes:")
        for fix in d.suggested_fixes[:TOP]:
            rate = f", worked {fix.success_rate:.0%}" if fix.success_rate is not None else ""
            typer.echo(f"  {fix.priority}. {fix.action} ({fix.estimated_time}, risk {fix.risk}{rate})")
    if d.knowledge_base_articles:
        typer.echo("knowledge base:")
        for article in d.knowledge_base_articles[:TOP]:
            typer.echo(f"  - {article.title} [{article.kind} {article.article_id}]")
    if d.related_incidents:
        typer.echo("related incidents:")
        for incident in d.related_incidents[:TOP]:
            typer.echo(f"  - {incident.incident_id} {incident.title} ({incident.status or '?'})")
    for note in d.evidence.notes:
        typer.echo(f"note: {note}")
