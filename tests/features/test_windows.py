from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from triage.errors import InvalidInput
from triage.features.windows import (
    ERROR_SIGNATURES,
    WINDOW_ERROR_RATES,
    WINDOW_TEMPLATE_COUNTS,
    FeatureViewError,
    as_window,
    count_matrix,
    error_rates,
    error_signatures,
    signature_of,
    template_counts,
)

T0 = pd.Timestamp("2024-03-01 10:00:00")


def events(rows: list[tuple]) -> pd.DataFrame:
    """rows: (seconds after T0 or None, service, template_id, level, component)."""
    return pd.DataFrame(
        {
            "source_id": "s1",
            "source": "app.log",
            "line_no": range(1, len(rows) + 1),
            "ts": [None if r[0] is None else T0 + pd.Timedelta(seconds=r[0]) for r in rows],
            "service": [r[1] for r in rows],
            "template_id": [r[2] for r in rows],
            "level": [r[3] for r in rows],
            "component": [r[4] for r in rows],
            "content": "redacted",
        }
    )


SAMPLE = events(
    [
        (5, "api", "T1", "INFO", "web"),
        (10, "api", "T1", "info", "web"),
        (20, "api", "T2", "ERROR", "web"),
        (70, "api", "T1", "INFO", "web"),
        (200, "db", "T3", "FATAL", "pool"),
        (210, "db", "T3", "error", "pool"),
        (None, "db", "T3", "ERROR", "pool"),
        (215, None, "T4", "WARN", None),
    ]
)


def test_template_counts_per_window_service_and_template() -> None:
    out = template_counts(SAMPLE, window="1min")
    assert out.attrs["view"] == WINDOW_TEMPLATE_COUNTS.tag == "window_template_counts/v1"
    assert out.attrs["n_untimed"] == 1  # the event without ts is reported, not silently lost
    got = {(r.window_start, r.service, r.template_id): r.count for r in out.itertuples()}
    assert got == {
        (T0, "api", "T1"): 2,
        (T0, "api", "T2"): 1,
        (T0 + pd.Timedelta(minutes=1), "api", "T1"): 1,
        (T0 + pd.Timedelta(minutes=3), "db", "T3"): 2,
        (T0 + pd.Timedelta(minutes=3), "app.log", "T4"): 1,  # service falls back to the source
    }
    assert out["count"].sum() == len(SAMPLE) - 1


def test_template_counts_accepts_other_groupings() -> None:
    out = template_counts(SAMPLE, window="5min", by=("service", "component"))
    assert {"component", "service"} <= set(out.columns)
    assert out.loc[out["component"] == "pool", "count"].sum() == 2


def test_error_rates_fill_a_complete_grid() -> None:
    out = error_rates(SAMPLE, window="1min")
    assert out.attrs["view"] == WINDOW_ERROR_RATES.tag
    services = sorted(out["service"].unique())
    windows = out["window_start"].unique()
    assert len(out) == len(services) * len(windows) == 3 * 4
    row = out[(out["service"] == "api") & (out["window_start"] == T0)].iloc[0]
    assert (row.n_events, row.n_errors) == (3, 1)
    assert row.error_rate == pytest.approx(1 / 3)
    quiet = out[(out["service"] == "api") & (out["window_start"] == T0 + pd.Timedelta(minutes=2))].iloc[0]
    assert (quiet.n_events, quiet.n_errors, quiet.error_rate) == (0, 0, 0.0)
    db = out[(out["service"] == "db") & (out["window_start"] == T0 + pd.Timedelta(minutes=3))].iloc[0]
    assert (db.n_events, db.n_errors) == (2, 2)  # FATAL and lower-case error both count; WARN does not


def test_error_rates_honours_explicit_span() -> None:
    out = error_rates(SAMPLE, window="1min", start=T0 - pd.Timedelta(minutes=2), end=T0 + pd.Timedelta(minutes=5))
    assert out["window_start"].nunique() == 8
    with pytest.raises(InvalidInput, match="before start"):
        error_rates(SAMPLE, window="1min", start=T0 + pd.Timedelta(hours=1), end=T0)


def test_error_rates_per_service_span_for_sources_years_apart() -> None:
    years = 365 * 24 * 3600 * 10  # a second source logged ten years later
    far = events([(0, "old", "T1", "ERROR", "c"), (120, "old", "T1", "INFO", "c"),
                  (years, "new", "T2", "INFO", "c"), (years + 60, "new", "T2", "ERROR", "c")])  # fmt: skip
    with pytest.raises(FeatureViewError, match="too many; use a longer window or span='service'"):
        error_rates(far, window="1min")  # one shared grid: millions of empty windows
    out = error_rates(far, window="1min", span="service")
    assert out.groupby("service").size().to_dict() == {"new": 2, "old": 3}  # each over its own span only
    assert out["n_events"].sum() == 4 and out["n_errors"].sum() == 2
    assert out.loc[out["service"] == "old", "n_events"].tolist() == [1, 0, 1]
    bounded = error_rates(far.iloc[:2], window="1min", span="service", end=T0 + pd.Timedelta(minutes=4))
    assert len(bounded) == 5
    with pytest.raises(FeatureViewError, match="span must be"):
        error_rates(far, span="everything")


def test_error_signatures_group_errors_with_stable_ids() -> None:
    out = error_signatures(SAMPLE)
    assert out.attrs["view"] == ERROR_SIGNATURES.tag
    assert list(out["template_id"]) == ["T3", "T2"]  # most frequent first
    t3 = out.iloc[0]
    assert t3["count"] == 3 and t3["service"] == "db" and t3["component"] == "pool"
    assert t3["first_seen"] == T0 + pd.Timedelta(seconds=200)
    assert t3["last_seen"] == T0 + pd.Timedelta(seconds=210)
    assert t3["signature"] == signature_of("db", "pool", "T3")
    assert len(t3["signature"]) == 16 and signature_of("db", "pool", "T3") != signature_of("db", "pool", "T2")


def test_error_signatures_without_errors_is_an_empty_valid_view() -> None:
    out = error_signatures(events([(1, "api", "T1", "INFO", "web")]))
    assert out.empty and list(out.columns) == list(ERROR_SIGNATURES.columns)


def test_count_matrix_lines_up_with_a_given_vocabulary() -> None:
    counts = template_counts(SAMPLE, window="1min")
    wide = count_matrix(counts, vocabulary=["T1", "T9", "T3"])
    assert wide.vocabulary == ("T1", "T9", "T3")
    assert wide.X.shape == (len(wide.keys), 3)
    assert wide.X[:, 1].sum() == 0  # a template the model knows but the data lacks
    assert wide.X[:, 0].sum() == 3 and wide.X[:, 2].sum() == 2  # T2/T4 are not in the vocabulary


@pytest.mark.parametrize("window", ["0s", "-1min", "often", None])
def test_bad_windows_are_refused(window: object) -> None:
    with pytest.raises(FeatureViewError):
        as_window(window)  # type: ignore[arg-type]


def test_bad_frames_are_refused_with_a_clear_error() -> None:
    with pytest.raises(FeatureViewError, match="template_id"):
        template_counts(SAMPLE.drop(columns=["template_id"]))
    with pytest.raises(FeatureViewError, match="missing template_id"):
        template_counts(SAMPLE.assign(template_id=[None, *SAMPLE["template_id"][1:]]))
    with pytest.raises(FeatureViewError, match="not timestamps"):
        template_counts(SAMPLE.assign(ts="yesterday-ish"))
    with pytest.raises(FeatureViewError, match="DataFrame"):
        template_counts([1, 2, 3])  # type: ignore[arg-type]
    assert issubclass(FeatureViewError, InvalidInput)


def test_view_schema_checks_kinds() -> None:
    bad = pd.DataFrame({"window_start": ["x"], "service": ["a"], "template_id": ["t"], "count": [1]})
    with pytest.raises(FeatureViewError, match="window_start"):
        WINDOW_TEMPLATE_COUNTS.validate(bad)
    with pytest.raises(FeatureViewError, match="missing column"):
        WINDOW_TEMPLATE_COUNTS.validate(bad.drop(columns=["count"]))


def test_empty_events_give_empty_views() -> None:
    empty = SAMPLE.iloc[:0]
    assert template_counts(empty).empty
    assert error_rates(empty).empty
    assert np.asarray(count_matrix(template_counts(empty)).X).shape[0] == 0
