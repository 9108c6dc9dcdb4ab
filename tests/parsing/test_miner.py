from __future__ import annotations

import json

import pytest

from triage.parsing.miner import DrainMiner, MinerConfig, merge_words, word_matches


@pytest.mark.parametrize(
    ("a", "b", "merged"),
    [
        ("rhost=a.b.com", "rhost=c.d.net", "rhost=<*>"),
        ("(uid=0)", "(uid=500)", "(uid=<*>)"),
        ("org.x.mapreduce.A", "org.x.mapreduce.v2.B", "org.x.mapreduce.<*>"),
        ("startup", "shutdown", "<*>"),
        ("same", "same", "same"),
        ("<*>", "anything", "<*>"),
        ("[a]", "[b]", "[<*>]"),
        ("a:b", "c:d", "<*>:<*>"),
    ],
)
def test_merge_words(a: str, b: str, merged: str) -> None:
    assert merge_words(a, b) == merged
    assert word_matches(merged, a) or merged == "<*>"
    assert word_matches(merged, b) or merged == "<*>"


def test_partially_variable_words_keep_matching() -> None:
    miner = DrainMiner(MinerConfig(sim_th=0.7, depth=5))
    first, _, created = miner.add(["auth", "failure", "rhost=a.example", "user=bob"])
    assert created
    cid, template, created = miner.add(["auth", "failure", "rhost=b.example", "user=bob"])
    assert (cid, created) == (first, False)
    assert template == ("auth", "failure", "rhost=<*>.example", "user=bob")
    cid, template, created = miner.add(["auth", "failure", "rhost=10.0.0.1", "user=bob"])
    assert (cid, created) == (first, False)
    assert template == ("auth", "failure", "rhost=<*>", "user=bob")


def test_state_round_trip_is_plain_json_and_equivalent() -> None:
    miner = DrainMiner(MinerConfig())
    messages = [["start", "job", str(i)] for i in range(5)] + [["stop", "job", "now"], ["a", "b"]]
    for tokens in messages:
        miner.add(tokens)
    state = json.loads(json.dumps(miner.export_state()))
    again = DrainMiner.import_state(state)
    assert list(again.clusters()) == list(miner.clusters())
    assert again.export_state() == miner.export_state()
    assert again.add(["start", "job", "9"])[0] == miner.add(["start", "job", "9"])[0]
