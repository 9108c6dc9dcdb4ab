"""The server's log lines are one JSON object each, with the code's extras and nothing uvicorn only colours."""

from __future__ import annotations

import json
import logging

from triage.api.logging import JsonFormatter


def test_a_record_becomes_one_json_line_with_its_extras() -> None:
    record = logging.LogRecord("uvicorn.error", logging.INFO, __file__, 1, "Started server process [%d]", (42,), None)
    record.color_message = "Started server process [\x1b[36m%d\x1b[0m]"  # what uvicorn attaches
    record.incident = "INC-1"
    line = JsonFormatter().format(record)
    payload = json.loads(line)
    assert payload["msg"] == "Started server process [42]" and payload["incident"] == "INC-1"
    assert "color_message" not in payload and "\x1b" not in line and "\n" not in line
