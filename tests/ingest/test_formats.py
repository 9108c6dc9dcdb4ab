"""Loghub-style header formats and JSON lines."""

from __future__ import annotations

import re

import pytest

from triage.errors import InvalidInput
from triage.ingest.formats import INT, TOKEN, FieldType, InvalidLogFormat, JsonFormat, JsonKeys, LogFormat
from triage.ingest.presets import FormatSpec, compile_format

from ._support import LOGHUB, LOGHUB_SYSTEMS

# The log_format strings of the logpai/logparser benchmark, as published (Drain benchmark settings).
LOGHUB_FORMATS = {
    "HDFS": "<Date> <Time> <Pid> <Level> <Component>: <Content>",
    "Hadoop": r"<Date> <Time> <Level> \[<Process>\] <Component>: <Content>",
    "Spark": "<Date> <Time> <Level> <Component>: <Content>",
    "Zookeeper": r"<Date> <Time> - <Level>  \[<Node>:<Component>@<Id>\] - <Content>",
    "BGL": "<Label> <Timestamp> <Date> <Node> <Time> <NodeRepeat> <Type> <Component> <Level> <Content>",
    "HPC": "<LogId> <Node> <Component> <State> <Time> <Flag> <Content>",
    "Linux": r"<Month> <Date> <Time> <Level> <Component>(\[<PID>\])?: <Content>",
    "OpenSSH": r"<Date> <Day> <Time> <Component> sshd\[<Pid>\]: <Content>",
}


def loghub_reference_regex(logformat: str) -> tuple[list[str], re.Pattern[str]]:
    """logparser's generate_logformat_regex, restated: the oracle our compiler must agree with."""
    headers: list[str] = []
    splitters = re.split(r"(<[^<>]+>)", logformat)
    regex = ""
    for k, splitter in enumerate(splitters):
        if k % 2 == 0:
            regex += re.sub(" +", "\\\\s+", splitter)
        else:
            header = splitter.strip("<").strip(">")
            regex += f"(?P<{header}>.*?)"
            headers.append(header)
    return headers, re.compile("^" + regex + "$")


@pytest.mark.parametrize("system", sorted(LOGHUB_FORMATS))
def test_custom_format_string_splits_lines_exactly_like_loghub(system: str) -> None:
    fmt = LogFormat.compile(LOGHUB_FORMATS[system])
    headers, reference = loghub_reference_regex(LOGHUB_FORMATS[system])
    assert list(fmt.fields) == headers
    lines = (LOGHUB / f"{system}_100.log").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 100
    for line in lines:
        expected = reference.search(line.strip())
        got = fmt.match(line.strip())
        assert expected is not None and got is not None, line
        assert got == {h: expected.group(h) or "" for h in headers}, line


@pytest.mark.parametrize("system", sorted(LOGHUB_FORMATS))
def test_presets_use_the_published_loghub_format_strings(system: str) -> None:
    preset = compile_format(FormatSpec(preset=LOGHUB_SYSTEMS[system]))
    assert isinstance(preset.matcher, LogFormat)
    assert preset.matcher.format == LOGHUB_FORMATS[system]


def test_regex_fragments_escapes_optional_groups_and_double_spaces() -> None:
    fmt = LogFormat.compile(r"<Month> <Date> <Time> <Host> <Component>(\[<PID>\])?: <Content>")
    assert fmt.match("Jun 14 15:16:01 combo sshd(pam_unix)[19939]: check pass; user unknown") == {
        "Month": "Jun", "Date": "14", "Time": "15:16:01", "Host": "combo", "Component": "sshd(pam_unix)",
        "PID": "19939", "Content": "check pass; user unknown",
    }
    without_pid = fmt.match("Jun 14 15:16:01 combo kernel: Linux version 2.6.5")
    assert without_pid is not None and without_pid["PID"] == "" and without_pid["Component"] == "kernel"
    # a run of spaces in the format matches any run of blanks in the line, and vice versa
    zk = LogFormat.compile(r"<Date> <Time> - <Level>  \[<Thread>\] - <Content>")
    assert zk.match("2015-07-29 19:04:12,394 - INFO [main] - hello")["Level"] == "INFO"
    assert zk.match("2015-07-29 19:04:12,394 -   WARN\t [main] - hi")["Level"] == "WARN"
    assert zk.match("2015-07-29 19:04:12,394 WARN [main] - hi") is None


def test_field_types_narrow_fields_and_content_takes_the_rest() -> None:
    fmt = LogFormat.compile("<Pid> <Content>", {"Pid": INT})
    assert fmt.match("123 hello: world  ") == {"Pid": "123", "Content": "hello: world  "}
    assert fmt.match("abc hello") is None
    assert LogFormat.compile("<Pid> <Content>").match("abc hello") == {"Pid": "abc", "Content": "hello"}


@pytest.mark.parametrize(
    ("fmt", "why"),
    [
        ("<Date> <Time> <Level>", "no <Content>"),
        ("", "empty"),
        ("   ", "empty"),
        ("<Date> <Date> <Content>", "appears twice"),
        ("<Date> (<Level> <Content>", "invalid regex fragment"),
        ("<Date> <Level>) <Content>", "invalid regex fragment"),
        ("<Date Time> <Content>", "letters, digits"),
        ("<1st> <Content>", "letters, digits"),
        ("<Date> < <Content>", "stray"),
        ("<Date>\n<Content>", "one line"),
        ("<Date> [a-z <Content>", "invalid regex fragment"),
        ("<Date> x{2,1} <Content>", "invalid regex fragment"),
    ],
)
def test_malformed_format_strings_raise_one_clear_line(fmt: str, why: str) -> None:
    with pytest.raises(InvalidLogFormat) as info:
        LogFormat.compile(fmt)
    message = str(info.value)
    assert isinstance(info.value, InvalidInput)
    assert why in message
    assert "\n" not in message and message.strip() == message


def test_typed_field_missing_from_the_format_is_an_error() -> None:
    with pytest.raises(InvalidLogFormat, match="not in the format"):
        LogFormat.compile("<Level> <Content>", {"Pid": FieldType(r"\d+", 3)})


def test_specificity_counts_required_structure_above_optional_structure() -> None:
    def spec(name: str) -> int:
        return compile_format(FormatSpec(preset=name)).specificity

    # sshd-only lines match all four: the literal "sshd[" pid "]" makes openssh the most specific;
    # generic syslog (typed tag, optional pid) beats Loghub Linux (any component) and Mac (required pid only)
    assert spec("openssh") > spec("rfc3164") > spec("mac") > spec("linux")
    assert spec("plain") == 0
    loose = LogFormat.compile("<Date> <Time> <Level> <Component>: <Content>")
    assert compile_format(FormatSpec(preset="spark")).specificity > loose.specificity


class TestJsonFormat:
    fmt = JsonFormat(JsonKeys())

    def test_flattens_objects_and_moves_the_message_to_content(self) -> None:
        got = self.fmt.match(
            '{"time": "t", "level": "info", "msg": "hi there", "ctx": {"user": {"id": 7}, "ok": true},'
            ' "tags": ["a", 1], "none": null, "ratio": 0.5}'
        )
        assert got == {
            "time": "t", "level": "info", "ctx.user.id": "7", "ctx.ok": "true", "tags": '["a",1]',
            "none": "", "ratio": "0.5", "Content": "hi there",
        }

    def test_message_key_order_and_missing_message(self) -> None:
        assert self.fmt.match('{"message": "m", "msg": "n"}') == {"msg": "n", "Content": "m"}
        line = '{"level": "info", "detail": "x"}'
        assert self.fmt.match(line) == {"level": "info", "detail": "x", "Content": line}

    @pytest.mark.parametrize("line", ["[1, 2]", "{not json}", '"text"', "plain text", "{", "{}x"])
    def test_non_objects_do_not_match(self, line: str) -> None:
        assert self.fmt.match(line) is None

    def test_configurable_keys(self) -> None:
        fmt = JsonFormat(JsonKeys(message="body|text"))
        assert fmt.match('{"text": "b", "message": "m"}') == {"message": "m", "Content": "b"}
        assert JsonKeys(level="sev").level == ("sev",)
        with pytest.raises(ValueError):
            JsonKeys(level=("",))


def test_a_token_before_blanks_matches_as_the_lazy_token_would() -> None:
    """A ``TOKEN`` field right before blanks is compiled greedy (``\\S+``, cheaper for the regex engine): every
    preset matches exactly the lines, with exactly the fields, that the lazy ``\\S+?`` of the format gives."""
    from triage.ingest.presets import PRESETS

    from ._support import HANDWRITTEN

    lines = [
        line
        for folder in (LOGHUB, HANDWRITTEN, LOGHUB.parent / "messy")
        for path in sorted(folder.iterdir())
        if path.suffix == ".log"
        for line in path.read_text("utf-8", "replace").splitlines()
    ]
    lines += [line.replace(" ", "  ", 2) for line in lines[::7]]  # runs of blanks, other blanks
    lines += [line.replace(" ", "\t", 3) for line in lines[::5]]
    lines += [line.replace(" ", "\u00a0", 1) for line in lines[::3]]
    lines += ["", " ", "a b", "a  b  c  d  e  f  g  h  i"]
    greedy_presets = 0
    for name, preset in PRESETS.items():
        if preset.json or not preset.log_format:
            continue
        regex = compile_format(FormatSpec(preset=name)).matcher.regex
        lazy = re.compile(regex.pattern.replace(r"\S+)", r"\S+?)"))
        greedy_presets += lazy.pattern != regex.pattern
        for line in lines:
            got, expected = regex.fullmatch(line), lazy.fullmatch(line)
            assert (got and got.groups()) == (expected and expected.groups()), (name, line)
    assert greedy_presets >= 5
    compiled = LogFormat.compile("<A>:<B> <Content>", {"A": TOKEN, "B": TOKEN})
    assert compiled.regex.pattern.startswith(r"(?P<A>\S+?):(?P<B>\S+)\s+")  # before other text: still lazy
