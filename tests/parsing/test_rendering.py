from __future__ import annotations

import pytest

from triage.parsing.rendering import normalise, render_template


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("Served block blk_<*> to /<*>", "Served block <*> to <*>"),  # glued variable, path-like
        ("size <*>.<*> at <*>:<*>", "size <*> at <*>:<*>"),  # dot-joined merge, colon kept
        ("value <*><*>   now", "value <*> now"),  # adjacent merge, spaces
        ("flag true and FALSE", "flag <*> and <*>"),
        ("node node-<*> up", "node node-<*> up"),  # '-' is a delimiter
        ("took 42 ms", "took <*> ms"),
        ("loaded hadoop-metrics2.properties", "loaded hadoop-metrics2.properties"),
        ("rack /default-rack", "rack <*>"),
        ("for user root", "for user <*>"),
        ("ratio <*>/<*>", "ratio <*>/<*>"),
    ],
)
def test_normalise(template: str, expected: str) -> None:
    assert normalise(template) == expected


def test_render_uses_each_placeholders_render() -> None:
    renders = {"<TIME>": "<*>:<*>:<*>"}
    assert render_template(["at", "<TIME>", "from", "<IP>:<NUM>"], renders) == "at <*>:<*>:<*> from <*>:<*>"
