from __future__ import annotations

import pandas as pd

from triage.rca.templates import template_key, template_keys


def test_values_are_masked_but_code_locations_kept() -> None:
    a = template_key("19:28:09.544 INFO t.s.TravelServiceImpl#366 [getTickets][Calculate distance][trip: Z1234]")
    b = template_key("19:29:10.001 INFO t.s.TravelServiceImpl#366 [getTickets][Calculate distance][trip: D99]")
    c = template_key("19:29:10.001 INFO t.s.TravelServiceImpl#372 [getTickets][Calculate distance][trip: D99]")
    assert a == b  # same statement, different values
    assert a != c  # same text, different line: a different statement
    assert "TravelServiceImpl#366" in a and "<*>" in a


def test_json_messages_are_keyed_on_their_message_field() -> None:
    key = template_key('{"http.req.id":"fc48-91","message":"Request started","severity":"info"}')
    assert key == "Request started"
    assert template_key("{not json") == "not json"


def test_template_keys_maps_a_series() -> None:
    keys = template_keys(pd.Series(["took 12 ms", "took 99 ms", "failed"]))
    assert keys.tolist() == ["took <*> ms", "took <*> ms", "failed"]
