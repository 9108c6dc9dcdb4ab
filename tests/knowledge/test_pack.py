from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from triage.errors import InvalidInput
from triage.knowledge.pack import PACK_DIR, load_pack
from triage.knowledge.schemas import RunbookSection


def test_the_shipped_pack_has_eight_complete_runbooks() -> None:
    pack = load_pack()
    assert len(pack.runbooks) == 8
    for runbook in pack.runbooks:
        assert list(runbook.sections) == [s.value for s in RunbookSection]
        assert runbook.fixes


@pytest.mark.parametrize(
    ("message", "category"),
    [
        ("HikariPool-1 - Connection is not available, connection pool exhausted", "DATABASE_CONNECTION"),
        # the README's example: HikariCP's own pool-exhaustion message, not a timeout of a call
        ("HikariPool-1 - Connection is not available, request timed out after 30000ms", "DATABASE_CONNECTION"),
        ("java.lang.OutOfMemoryError: Java heap space", "RESOURCE_EXHAUSTION"),
        ("write /var/log/app.log: no space left on device", "RESOURCE_EXHAUSTION"),
        ("Read timed out after 30000 ms calling billing", "TIMEOUT"),
        ("java.net.UnknownHostException: orders.internal", "NETWORK"),
        ("PKIX path building failed: certificate has expired", "AUTHENTICATION"),
        ("java.lang.NullPointerException at com.acme.Orders.place", "CODE_DEFECT"),
        ("Failed password for invalid user admin from <IP> port <NUM> ssh2", "SECURITY"),
    ],
)
def test_known_patterns_name_the_category(message: str, category: str) -> None:
    pattern = load_pack().match(message)
    assert pattern is not None
    assert pattern.category == category


def test_no_pattern_for_an_ordinary_info_line() -> None:
    assert load_pack().match("Received block of size 67108864 from 10.0.0.1") is None


def test_a_pack_naming_an_unknown_fix_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "runbooks").mkdir()
    patterns = yaml.safe_load((PACK_DIR / "patterns.yaml").read_text())[:1]
    patterns[0]["fixes"] = ["no-such-fix"]
    (tmp_path / "patterns.yaml").write_text(yaml.safe_dump(patterns))
    with pytest.raises(InvalidInput, match="unknown fixes"):
        load_pack(extra=tmp_path)
