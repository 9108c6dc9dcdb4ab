from __future__ import annotations

import json

import pytest

from triage.recovery.errors import RestoreRefused
from triage.recovery.executor import create_snapshot
from triage.recovery.health import CheckLevel, HealthProbes, ProbeResult
from triage.recovery.journal import JournaledStore
from triage.recovery.records import RecoveryRecord
from triage.recovery.rollback import (
    Verification,
    rollback_config,
    rollback_model,
    rollback_store,
    rollback_system,
)
from triage.settings import Settings

from .conftest import add_events, event_ids


def test_config_rollback_restores_files_reports_settings_and_is_audited(
    rsettings: Settings, home: JournaledStore
) -> None:
    snap = create_snapshot(rsettings, components=["config"]).manifest
    (rsettings.interim_dir / "miner_state.json").write_text('{"clusters": 99}')
    (rsettings.home / "config" / "routing.yaml").write_text("hdfs: nobody\n")
    records: list[RecoveryRecord] = []
    changed = rsettings.model_copy(update={"api_port": 9999})
    result = rollback_config(changed, audit=records.append, actor="ana", reason="bad routing")
    assert result.snapshot_id == snap.id and result.healthy
    assert json.loads((rsettings.interim_dir / "miner_state.json").read_text()) == {"clusters": 3}
    assert (rsettings.home / "config" / "routing.yaml").read_text() == "hdfs: team-storage\n"
    assert result.details["settings_differences"]["api_port"] == {"snapshot": 8000, "now": 9999}
    assert event_ids(rsettings) == list(range(50))  # the store was not touched
    [record] = records
    assert (record.action, record.subject_kind, record.actor, record.reason) == (
        "recovery.rollback",
        "config",
        "ana",
        "bad routing",
    )
    assert record.details["health"]["healthy"] is True


def test_store_rollback_to_a_moment_before_any_snapshot_is_refused(
    rsettings: Settings, home: JournaledStore
) -> None:
    from datetime import UTC, datetime, timedelta

    create_snapshot(rsettings, components=["store"])
    with pytest.raises(RestoreRefused, match="no snapshot of the store taken at or before"):
        rollback_store(rsettings, to=datetime.now(UTC) - timedelta(days=1))


def test_system_rollback_restores_everything_and_compares_code(
    rsettings: Settings, home: JournaledStore
) -> None:
    snap = create_snapshot(rsettings).manifest
    add_events(home, range(100, 110))
    (rsettings.interim_dir / "miner_state.json").write_text("{}")
    failing_api = HealthProbes(api=(lambda: ProbeResult(False, 3, "HTTP 503"),))
    result = rollback_system(
        rsettings, verification=Verification(probes=failing_api, level=CheckLevel.IMMEDIATE)
    )
    assert result.snapshot_id == snap.id
    assert event_ids(rsettings) == list(range(50))
    assert json.loads((rsettings.interim_dir / "miner_state.json").read_text()) == {"clusters": 3}
    assert result.details["code"]["redeploy"] is False  # same install as when the snapshot was taken
    assert not result.healthy and "HTTP 503" in result.health.failures()[0]  # health is checked, not assumed


def test_model_rollback_moves_the_alias_through_the_given_callable(rsettings: Settings) -> None:
    registry = {"diag": {"champion": "7"}}

    def move_alias(name: str, alias: str, to_version: str | None) -> dict:
        old = registry[name][alias]
        registry[name][alias] = to_version or str(int(old) - 1)
        return {"from": old, "to": registry[name][alias]}

    records: list[RecoveryRecord] = []
    model_ok = HealthProbes(model=lambda: ProbeResult(registry["diag"]["champion"] == "6"))
    result = rollback_model(move_alias, "diag", settings=rsettings, audit=records.append,
                            verification=Verification(probes=model_ok, level=CheckLevel.IMMEDIATE))  # fmt: skip
    assert registry == {"diag": {"champion": "6"}} and result.healthy
    assert records[0].subject_kind == "model" and records[0].subject_id == "diag"
    assert result.details["from"] == "7" and result.details["to"] == "6"
