"""summarize: one line naming an exception, for readiness checks and log fields."""

from triage.errors import summarize


def test_summarize_is_the_type_and_first_line_bounded():
    assert summarize(OSError("disk full\nsecond line")) == "OSError: disk full"
    assert summarize(ValueError()) == "ValueError: "
    long = summarize(RuntimeError("x" * 1000))
    assert len(long) == 300 and long.startswith("RuntimeError: xxx")


def test_summarize_without_a_limit_keeps_the_whole_first_line():
    text = summarize(RuntimeError("y" * 1000 + "\nnext"), limit=None)
    assert text == "RuntimeError: " + "y" * 1000
