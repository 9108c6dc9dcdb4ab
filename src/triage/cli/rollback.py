"""`triage rollback config|store|system|model`: undo to a snapshot (or a moment, or the previous champion),
then verify health.

Model rollback moves the ``champion`` alias back to the previous champion through change control, exactly as
`triage models rollback` does (:func:`triage.cli.models.tracker_for`), inside
`triage.recovery.rollback.rollback_model`; the verification adds that the served copy loads at the new
version (and, for the error classifier, answers one inference).
"""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from triage.api.restoration import KEEP_KINDS, audit_sink, store_apply
from triage.cli._common import confirm, print_json, settings_of
from triage.cli.models import change_actor, tracker_for
from triage.cli.snapshot import parse_moment
from triage.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    from triage.modeling.tracking import LoadedModel, ModelMove
    from triage.recovery.health import HealthProbes, ProbeResult
    from triage.settings import Settings

SnapshotOpt = Annotated[
    str | None, typer.Option("--snapshot", help="snapshot id (default: the newest that fits)")
]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="do not ask for confirmation")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
CheckOpt = Annotated[
    str, typer.Option("--check", help="health checks after: immediate | comprehensive | extended")
]
ReasonOpt = Annotated[str | None, typer.Option("--reason", help="why (recorded in the audit trail)")]


def _verification(check: str):
    from triage.recovery.health import CheckLevel
    from triage.recovery.rollback import Verification

    try:
        return Verification(level=CheckLevel(check))
    except ValueError:
        raise InvalidInput("--check is immediate, comprehensive or extended") from None


def _report(result, json_out: bool) -> None:
    if json_out:
        print_json(result.as_dict())
    else:
        where = f" from snapshot {result.snapshot_id}" if result.snapshot_id else ""
        if result.level == "model":
            d = result.details
            under = f" under change {d['change_id']}" if d.get("change_id") else ""
            where = f" {d['subject']}: {d['alias']} v{d['from']} -> v{d['to']}{under}"
        typer.echo(f"rolled back {result.level}{where}")
        if result.level == "model":
            typer.echo(f"  served: {result.details['served']['detail']}")
        if result.restore is not None:
            for note in result.restore.notes:
                typer.echo(f"note: {note}")
        for check in result.health.checks:
            typer.echo(f"  {check.status:<12} {check.name} ({check.threshold}) {check.detail}".rstrip())
        for name, diff in result.details.get("settings_differences", {}).items():
            typer.echo(
                f"  setting {name} was {diff['snapshot']!r}, is {diff['now']!r} (settings come from the environment)"
            )
        code = result.details.get("code") or {}
        if code.get("redeploy"):
            typer.echo(f"  code differs from the snapshot: commit {code['commit']['snapshot']} → now "
                       f"{code['commit']['now']}, {len(code['packages_changed'])} package(s) changed; redeploy to match")  # fmt: skip
        typer.echo(
            "healthy"
            if result.healthy
            else "NOT healthy after rollback: " + "; ".join(result.health.failures())
        )
    if not result.healthy:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    rb = typer.Typer(help="Roll back configuration, the store (to a moment) or the whole system; health-checked and audited.",
                     no_args_is_help=True)  # fmt: skip
    app.add_typer(rb, name="rollback")

    @rb.command("config")
    def config(ctx: typer.Context, snapshot: SnapshotOpt = None, yes: YesOpt = False, reason: ReasonOpt = None,
               check: CheckOpt = "comprehensive", json_out: JsonOpt = False) -> None:  # fmt: skip
        """Interim state (miner state, rules) and <home>/config back to a snapshot."""
        from triage.recovery.rollback import rollback_config

        settings = settings_of(ctx)
        verification = _verification(check)
        confirm(f"roll configuration back to {snapshot or 'the newest snapshot'}?", yes)
        _report(rollback_config(settings, snapshot_id=snapshot, actor=getpass.getuser(), reason=reason,
                                audit=audit_sink(settings), verification=verification), json_out)  # fmt: skip

    @rb.command("store")
    def store(
        ctx: typer.Context,
        to: Annotated[
            str | None, typer.Option("--to", help="the moment (ISO 8601, UTC if no offset)")
        ] = None,
        snapshot: SnapshotOpt = None,
        yes: YesOpt = False,
        reason: ReasonOpt = None,
        check: CheckOpt = "comprehensive",
        json_out: JsonOpt = False,
    ) -> None:
        """The store as it was at --to: the newest snapshot before it plus the journal up to it."""
        from triage.recovery.rollback import rollback_store

        if to is None and snapshot is None:
            raise InvalidInput("say where to: --to TIMESTAMP and/or --snapshot ID")
        settings = settings_of(ctx)
        verification = _verification(check)
        moment = parse_moment(to) if to else None
        confirm(f"roll the store back to {to or snapshot}?", yes)
        _report(rollback_store(settings, to=moment, snapshot_id=snapshot, apply=store_apply(), keep_kinds=KEEP_KINDS,
                               actor=getpass.getuser(), reason=reason, audit=audit_sink(settings),
                               verification=verification), json_out)  # fmt: skip

    @rb.command("system")
    def system(ctx: typer.Context, snapshot: SnapshotOpt = None, yes: YesOpt = False, reason: ReasonOpt = None,
               check: CheckOpt = "comprehensive", json_out: JsonOpt = False) -> None:  # fmt: skip
        """Store, models and config together from one full snapshot; reports how the code differs."""
        from triage.recovery.rollback import rollback_system

        settings = settings_of(ctx)
        verification = _verification(check)
        confirm(f"restore the whole system from {snapshot or 'the newest full snapshot'}?", yes)
        _report(rollback_system(settings, snapshot_id=snapshot, apply=store_apply(), keep_kinds=KEEP_KINDS,
                                actor=getpass.getuser(), reason=reason, audit=audit_sink(settings),
                                verification=verification), json_out)  # fmt: skip

    @rb.command("model")
    def model(
        ctx: typer.Context,
        name: Annotated[str, typer.Argument(help="Registered model name, e.g. error-classifier.")],
        actor: Annotated[str | None, typer.Option("--as", "--actor", help="Who is acting (default: the OS user).")] = None,
        role: Annotated[str, typer.Option("--role", help="Role acted in (engineer or admin carry out model changes).")] = "engineer",
        reason: ReasonOpt = None,
        check: CheckOpt = "comprehensive",
        json_out: JsonOpt = False,
    ) -> None:  # fmt: skip
        """The champion back to the previous champion (a model-rollback change); verify the served copy."""
        from triage.recovery.rollback import Verification, rollback_model

        settings = settings_of(ctx)
        level = _verification(check).level
        _known_model(settings, name)  # refused before the registry or the store is opened
        who = change_actor(actor, role)
        why = reason or "rolled back from the CLI"
        served = ServedCheck(settings, name)

        def move(model_name: str, alias: str, to_version: str | None) -> dict[str, Any]:
            done = tracker_for(settings, who).rollback(model_name, actor=who.user, reason=why)
            if done.action != "rollback":  # a normal change: the alias moves once it is approved
                raise _Pending(done)
            return {"from": done.from_version, "to": done.to_version, "change_id": done.change_id,
                    "served": served.verify(done.to_version)}  # fmt: skip

        try:
            result = rollback_model(move, name, settings=settings, actor=who.user, reason=why,
                                    audit=audit_sink(settings),
                                    verification=Verification(probes=served.probes(), level=level))  # fmt: skip
        except _Pending as pending:
            _report_pending(pending.move, json_out)
            return
        _report(result, json_out)


class _Pending(Exception):
    """The rollback was raised as a change that waits for approval: nothing moved, nothing to verify."""

    def __init__(self, move: ModelMove) -> None:
        super().__init__(move.change_id)
        self.move = move


def _report_pending(move: ModelMove, json_out: bool) -> None:
    if json_out:
        print_json({"level": "model", "subject": move.model, "alias": move.alias, "from": move.from_version,
                    "to": move.to_version, "change_id": move.change_id, "pending": True})  # fmt: skip
        return
    typer.echo(f"{move.model}: {move.alias} stays v{move.from_version}; change {move.change_id} awaits approval "
               f"to move it to v{move.to_version} (then: triage models rollback {move.model} --change "
               f"{move.change_id})")  # fmt: skip


def _known_model(settings: Settings, name: str) -> None:
    """A trainable model name, in a home that has a registry (asking creates neither)."""
    from triage.modeling.registry import model_spec

    model_spec(name)
    uri = settings.tracking_uri
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).exists():
        raise NotFound(f"no registered model named {name!r}: this home has no model registry yet "
                       "(train one: triage pipeline run train)")  # fmt: skip


class ServedCheck:
    """After the move: the served copy of the model loads (checksum verified) at the new version, and the
    error classifier answers one inference. Reported in the result (``served``) and as the health checks
    ``model_availability`` and ``model_inference`` beside the local probes (store, model registry)."""

    def __init__(self, settings: Settings, name: str) -> None:
        self.settings = settings
        self.name = name
        self.state: dict[str, Any] = {"ok": False, "detail": "not verified"}
        self._loaded: LoadedModel | None = None

    def verify(self, expected: int | None) -> dict[str, Any]:
        from triage.errors import TriageError
        from triage.modeling.tracking import SERVED_DIR_NAME, load_served

        try:
            loaded = load_served(self.settings.models_dir / SERVED_DIR_NAME, self.name)
        except TriageError as exc:
            self.state = {
                "version": None,
                "expected": expected,
                "ok": False,
                "detail": " ".join(str(exc).split()),
            }
            return self.state
        ok = loaded.version == expected
        self._loaded = loaded if ok else None
        detail = (f"{self.name} v{loaded.version} loads" if ok else
                  f"served copy of {self.name} is v{loaded.version}, expected v{expected}")  # fmt: skip
        self.state = {"version": loaded.version, "expected": expected, "ok": ok, "detail": detail}
        return self.state

    def probes(self) -> HealthProbes:
        from dataclasses import replace

        from triage.modeling.classification import MODEL_NAME as CLASSIFIER_NAME
        from triage.recovery.health import local_probes

        probes = replace(
            local_probes(self.settings.store_path, self.settings.models_dir), model=self._available
        )
        return replace(probes, inference=self._inference) if self.name == CLASSIFIER_NAME else probes

    def _available(self) -> ProbeResult:
        from triage.recovery.health import ProbeResult

        return ProbeResult(bool(self.state["ok"]), detail=str(self.state["detail"]))

    def _inference(self) -> ProbeResult:
        from triage.diagnosis.models import ChampionClassifier
        from triage.recovery.health import ProbeResult

        if self._loaded is None:
            return ProbeResult(False, detail=str(self.state["detail"]))
        result = ChampionClassifier(self._loaded).classify(content="Connection refused", template="Connection refused",
                                                           level="ERROR", service="rollback-check")  # fmt: skip
        return ProbeResult(True, detail=f"inference ok ({result.category})")
