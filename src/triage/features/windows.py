"""Window feature views over the events table: pure functions, no I/O.

The input is an *events* DataFrame with the store's columns (``source_id, source, line_no, ts, service,
component, host, level, template_id, params, content, n_lines, run_id, ingested_at``). Each function needs
only the columns it names; a missing column or an unusable value raises :class:`FeatureViewError`
(an ``InvalidInput``) instead of a pandas traceback.

Views produced here (each a :class:`ViewSchema` with a version; the version goes into
``df.attrs["view"]`` and must be logged with any model trained on the view):

* :data:`WINDOW_TEMPLATE_COUNTS` — events per (window, service, template).
* :data:`WINDOW_ERROR_RATES` — events, error events and the error rate per (window, service), on a
  complete grid (a window in which a service logged nothing is a row with zeros, not a gap), which is
  what a forecaster needs.
* :data:`ERROR_SIGNATURES` — one row per distinct error (service, component, template) with a stable
  signature hash, counts and first/last seen.

Events without a timestamp cannot be placed in a window. They are left out of the windowed views and
counted in ``df.attrs["n_untimed"]`` so a caller can report them (nothing is dropped silently).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

import numpy as np
import pandas as pd

from triage.errors import InvalidInput

#: Levels counted as errors (upper-cased before comparison). WARN is deliberately not an error.
ERROR_LEVELS: frozenset[str] = frozenset(
    {"ERROR", "ERR", "FATAL", "CRITICAL", "CRIT", "SEVERE", "ALERT", "EMERG", "EMERGENCY", "PANIC", "FAILURE"}
)

#: Service name given to events whose ``service`` (and ``source``) is missing.
UNKNOWN_SERVICE = "unknown"

#: Most rows a windowed view may produce; a bigger grid means the window is far too small for the span.
MAX_GRID_ROWS = 5_000_000


class FeatureViewError(InvalidInput):
    """An events frame or a feature view does not have the columns/types the view needs."""


_KINDS = {
    "string": lambda s: pd.api.types.is_object_dtype(s) or pd.api.types.is_string_dtype(s),
    "int": pd.api.types.is_integer_dtype,
    "float": pd.api.types.is_float_dtype,
    "datetime": pd.api.types.is_datetime64_any_dtype,
    "object": pd.api.types.is_object_dtype,
}


@dataclass(frozen=True, slots=True)
class ViewSchema:
    """Name, version and column types of one feature view; :meth:`validate` checks a frame against it."""

    name: str
    version: int
    columns: Mapping[str, str]  # column -> kind: string | int | float | datetime | object
    not_null: tuple[str, ...] = ()

    @property
    def tag(self) -> str:
        """``name/vN``: what a model logs as its feature-view version."""
        return f"{self.name}/v{self.version}"

    def validate(self, df: pd.DataFrame) -> pd.DataFrame:
        """Return ``df`` (tagged with this view) if it has every column with the right kind, else raise."""
        if not isinstance(df, pd.DataFrame):
            raise FeatureViewError(f"{self.tag}: expected a DataFrame, got {type(df).__name__}")
        missing = [c for c in self.columns if c not in df.columns]
        if missing:
            raise FeatureViewError(f"{self.tag}: missing column(s) {', '.join(missing)}")
        for column, kind in self.columns.items():
            if len(df) and not _KINDS[kind](df[column]):
                raise FeatureViewError(
                    f"{self.tag}: column {column} has dtype {df[column].dtype}, want {kind}"
                )
        for column in self.not_null:
            if df[column].isna().any():
                raise FeatureViewError(f"{self.tag}: column {column} has missing values")
        df.attrs["view"] = self.tag
        return df


WINDOW_TEMPLATE_COUNTS = ViewSchema(
    "window_template_counts",
    1,
    {"window_start": "datetime", "service": "string", "template_id": "string", "count": "int"},
    not_null=("window_start", "service", "template_id"),
)
WINDOW_ERROR_RATES = ViewSchema(
    "window_error_rates",
    1,
    {
        "window_start": "datetime",
        "service": "string",
        "n_events": "int",
        "n_errors": "int",
        "error_rate": "float",
    },
    not_null=("window_start", "service"),
)
ERROR_SIGNATURES = ViewSchema(
    "error_signatures",
    1,
    {
        "signature": "string",
        "service": "string",
        "component": "string",
        "template_id": "string",
        "level": "string",
        "count": "int",
        "first_seen": "datetime",
        "last_seen": "datetime",
    },
    not_null=("signature", "service", "template_id"),
)


# --------------------------------------------------------------------------------------------- inputs
def as_window(window: str | timedelta | pd.Timedelta) -> pd.Timedelta:
    """Parse a window length (``"5min"``, ``"1h"``, a timedelta); it must be positive."""
    try:
        value = pd.Timedelta(window)
    except (ValueError, TypeError) as exc:
        raise FeatureViewError(f"invalid window {window!r}: use a duration such as '1min' or '1h'") from exc
    if pd.isna(value) or value <= pd.Timedelta(0):
        raise FeatureViewError(f"invalid window {window!r}: it must be positive")
    return value


def normalise_events(events: pd.DataFrame, *, need: Iterable[str] = ("template_id",)) -> pd.DataFrame:
    """A copy of ``events`` with the columns the views rely on in one shape, in event order.

    * ``template_id`` becomes a string (the store's ids, or event numbers from session files);
    * ``service`` is filled from ``source`` and then :data:`UNKNOWN_SERVICE` where missing;
    * ``level`` is upper-cased (missing stays missing), ``ts`` becomes datetime64 (unparseable -> error);
    * rows are stably sorted by ``ts`` (missing last), then ``source_id``/``source`` and ``line_no``.
    """
    if not isinstance(events, pd.DataFrame):
        raise FeatureViewError(f"expected an events DataFrame, got {type(events).__name__}")
    need = tuple(need)
    missing = [c for c in need if c not in events.columns]
    if missing:
        raise FeatureViewError(f"events lack column(s) {', '.join(missing)}")
    df = events.copy()
    if "template_id" in df.columns:
        if df["template_id"].isna().any():
            raise FeatureViewError("events have a missing template_id; parse them before building features")
        df["template_id"] = df["template_id"].astype(str)
    if "service" in df.columns or "source" in df.columns:
        service = df["service"] if "service" in df.columns else pd.Series(None, index=df.index, dtype=object)
        if "source" in df.columns:
            service = service.where(service.notna() & (service.astype(str) != ""), df["source"])
        df["service"] = service.where(service.notna() & (service.astype(str) != ""), UNKNOWN_SERVICE).astype(
            str
        )
    else:
        df["service"] = UNKNOWN_SERVICE
    if "level" in df.columns:
        df["level"] = df["level"].where(df["level"].isna(), df["level"].astype(str).str.upper())
    if "ts" in df.columns:
        df["ts"] = _as_datetime(df["ts"])
    order = [c for c in ("ts", "source_id", "source", "line_no") if c in df.columns]
    if order:
        df = df.sort_values(order, kind="stable", na_position="last")
    return df.reset_index(drop=True)


def _as_datetime(ts: pd.Series) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(ts):
        return ts
    try:
        return pd.to_datetime(ts, utc=False, format="mixed")
    except (ValueError, TypeError) as exc:
        raise FeatureViewError(
            f"column ts holds values that are not timestamps: {exc}".splitlines()[0]
        ) from exc


def error_mask(levels: pd.Series, error_levels: Iterable[str] = ERROR_LEVELS) -> np.ndarray:
    """True where the (upper-cased) level is one of ``error_levels``."""
    wanted = {str(level).upper() for level in error_levels}
    return levels.astype(str).str.upper().isin(wanted).to_numpy() & levels.notna().to_numpy()


def _timed(df: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    if "ts" not in df.columns:
        raise FeatureViewError("events lack column ts, which windowed views need")
    timed = df[df["ts"].notna()]
    return timed, len(df) - len(timed)


def _check_by(df: pd.DataFrame, by: Sequence[str]) -> list[str]:
    by = list(by)
    missing = [c for c in by if c not in df.columns]
    if missing:
        raise FeatureViewError(f"events lack grouping column(s) {', '.join(missing)}")
    return by


# --------------------------------------------------------------------------------------------- views
def template_counts(
    events: pd.DataFrame, *, window: str | timedelta = "1min", by: Sequence[str] = ("service",)
) -> pd.DataFrame:
    """Events per (window_start, *by, template_id): the :data:`WINDOW_TEMPLATE_COUNTS` view.

    Only windows with at least one event appear (long format). ``by`` defaults to ``("service",)``;
    the view's schema names ``service``, so other groupings add columns but keep ``service``.
    """
    step = as_window(window)
    df = normalise_events(events, need=("template_id", "ts"))
    by = _check_by(df, by)
    timed, n_untimed = _timed(df)
    keys = ["window_start", *[c for c in by if c != "service"], "service", "template_id"]
    if timed.empty:
        out = pd.DataFrame({k: pd.Series(dtype=object) for k in keys}).assign(count=pd.Series(dtype="int64"))
        out["window_start"] = pd.Series(dtype="datetime64[ns]")
    else:
        frame = timed.assign(window_start=timed["ts"].dt.floor(step))
        out = frame.groupby(keys, sort=True, dropna=False).size().rename("count").reset_index()
        out["count"] = out["count"].astype("int64")
    out = WINDOW_TEMPLATE_COUNTS.validate(out)
    out.attrs.update(window=str(step), n_untimed=n_untimed)
    return out


def error_rates(
    events: pd.DataFrame,
    *,
    window: str | timedelta = "1min",
    error_levels: Iterable[str] = ERROR_LEVELS,
    start: pd.Timestamp | None = None,
    end: pd.Timestamp | None = None,
    span: Literal["all", "service"] = "all",
) -> pd.DataFrame:
    """Events, error events and error rate per (window_start, service): :data:`WINDOW_ERROR_RATES`.

    The grid is complete: with ``span="all"`` every service gets every window from ``start`` (default:
    the first event's window) to ``end`` (default: the last event's window); with ``span="service"`` each
    service gets the windows of its own span (its first to its last event; ``start``/``end``, when given,
    replace those bounds), so sources logged years apart do not make a grid of millions of empty windows. Zeros
    fill the windows where a service logged nothing, and ``error_rate = n_errors / n_events`` (0 where
    ``n_events == 0``).
    """
    if span not in ("all", "service"):
        raise FeatureViewError(f"error_rates: span must be 'all' or 'service', got {span!r}")
    step = as_window(window)
    df = normalise_events(events, need=("ts", "level"))
    timed, n_untimed = _timed(df)
    columns = ["window_start", "service", "n_events", "n_errors", "error_rate"]
    if timed.empty:
        out = pd.DataFrame(
            {
                c: pd.Series(dtype=t)
                for c, t in zip(columns, ["datetime64[ns]", object, "int64", "int64", "float64"], strict=True)
            }
        )
        out = WINDOW_ERROR_RATES.validate(out)
        out.attrs.update(window=str(step), n_untimed=n_untimed)
        return out
    frame = timed.assign(
        window_start=timed["ts"].dt.floor(step), is_error=error_mask(timed["level"], error_levels)
    )
    grouped = frame.groupby(["service", "window_start"], sort=True).agg(
        n_events=("is_error", "size"), n_errors=("is_error", "sum")
    )
    first = frame["window_start"].min() if start is None else pd.Timestamp(start).floor(step)
    last = frame["window_start"].max() if end is None else pd.Timestamp(end).floor(step)
    if last < first:
        raise FeatureViewError("error_rates: end is before start")
    services = sorted(grouped.index.get_level_values("service").unique())
    if span == "all":
        spans = {service: (first, last) for service in services}
    else:
        bounds = frame.groupby("service")["window_start"].agg(["min", "max"])
        spans = {service: (first if start is not None else bounds.at[service, "min"],
                           last if end is not None else bounds.at[service, "max"]) for service in services}
    sizes = {service: int((b - a) / step) + 1 if b >= a else 0 for service, (a, b) in spans.items()}
    if sum(sizes.values()) > MAX_GRID_ROWS:
        longest = max(sizes.values())
        raise FeatureViewError(
            f"error_rates: {sum(sizes.values())} rows ({len(services)} services, up to {longest} windows each) is "
            "too many; use a longer window" + ("" if span == "service" else " or span='service'")
        )
    grid = pd.MultiIndex.from_arrays(
        [np.repeat(services, [sizes[s] for s in services]),
         np.concatenate([pd.date_range(*spans[s], freq=step).to_numpy() for s in services])
         if services else np.array([], dtype="datetime64[ns]")],
        names=["service", "window_start"],
    )
    out = grouped.reindex(grid, fill_value=0).reset_index()
    out["n_events"] = out["n_events"].astype("int64")
    out["n_errors"] = out["n_errors"].astype("int64")
    out["error_rate"] = np.where(out["n_events"] > 0, out["n_errors"] / out["n_events"].clip(lower=1), 0.0)
    out = out[columns].sort_values(["window_start", "service"], kind="stable").reset_index(drop=True)
    out = WINDOW_ERROR_RATES.validate(out)
    out.attrs.update(window=str(step), n_untimed=n_untimed)
    return out


def signature_of(service: str, component: str, template_id: str) -> str:
    """Stable 16-hex-digit id of an error kind; the same inputs give the same id in every process."""
    digest = hashlib.sha256(f"{service}\x1f{component}\x1f{template_id}".encode()).hexdigest()
    return digest[:16]


def error_signatures(events: pd.DataFrame, *, error_levels: Iterable[str] = ERROR_LEVELS) -> pd.DataFrame:
    """One row per distinct error (service, component, template): :data:`ERROR_SIGNATURES`.

    ``level`` is the signature's most frequent level (ties broken by name);
    ``first_seen``/``last_seen`` are NaT when no event of the signature carries a timestamp.
    """
    df = normalise_events(events, need=("template_id", "level"))
    if "component" not in df.columns:
        df["component"] = ""
    df["component"] = df["component"].fillna("").astype(str)
    if "ts" not in df.columns:
        df["ts"] = pd.NaT
    errors = df[error_mask(df["level"], error_levels)]
    columns = list(ERROR_SIGNATURES.columns)
    if errors.empty:
        out = pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
        out["count"] = out["count"].astype("int64")
        out["first_seen"] = pd.Series(dtype="datetime64[ns]")
        out["last_seen"] = pd.Series(dtype="datetime64[ns]")
        return ERROR_SIGNATURES.validate(out)
    keys = ["service", "component", "template_id"]
    grouped = errors.groupby(keys, sort=True)
    out = grouped.agg(
        count=("level", "size"), first_seen=("ts", "min"), last_seen=("ts", "max")
    ).reset_index()
    top_level = errors.groupby([*keys, "level"]).size().rename("n").reset_index()
    top_level = top_level.sort_values([*keys, "n", "level"], ascending=[True, True, True, False, True])
    top_level = top_level.drop_duplicates(keys, keep="first")[[*keys, "level"]]
    out = out.merge(top_level, on=keys, how="left")
    out["signature"] = [
        signature_of(s, c, t)
        for s, c, t in zip(out["service"], out["component"], out["template_id"], strict=True)
    ]
    out["count"] = out["count"].astype("int64")
    out["first_seen"] = pd.to_datetime(out["first_seen"])
    out["last_seen"] = pd.to_datetime(out["last_seen"])
    out = out[columns].sort_values(["count", "signature"], ascending=[False, True]).reset_index(drop=True)
    return ERROR_SIGNATURES.validate(out)


@dataclass(frozen=True, slots=True)
class CountMatrix:
    """A wide view of :data:`WINDOW_TEMPLATE_COUNTS`: one row per (window, service), one column per template."""

    keys: pd.DataFrame  # window_start, service (row order of X)
    vocabulary: tuple[str, ...]  # template id of each column
    X: np.ndarray  # float64 counts, shape (len(keys), len(vocabulary))


def count_matrix(counts: pd.DataFrame, *, vocabulary: Sequence[str] | None = None) -> CountMatrix:
    """Pivot a :data:`WINDOW_TEMPLATE_COUNTS` frame; with ``vocabulary`` (e.g. a model's), unknown templates
    are left out and missing ones are zero columns, so rows line up with what a model was trained on."""
    WINDOW_TEMPLATE_COUNTS.validate(counts)
    vocab = (
        tuple(sorted(counts["template_id"].unique())) if vocabulary is None else tuple(map(str, vocabulary))
    )
    if counts.empty:
        keys = pd.DataFrame(
            {"window_start": pd.Series(dtype="datetime64[ns]"), "service": pd.Series(dtype=object)}
        )
        return CountMatrix(keys, vocab, np.zeros((0, len(vocab))))
    wide = counts.pivot_table(
        index=["window_start", "service"], columns="template_id", values="count", aggfunc="sum", fill_value=0
    )
    wide = wide.reindex(columns=list(vocab), fill_value=0)
    return CountMatrix(wide.index.to_frame(index=False), vocab, wide.to_numpy(dtype=np.float64))


def describe(view: pd.DataFrame) -> dict[str, Any]:
    """Small summary of a view for run logs: its tag, rows and the bookkeeping attrs."""
    return {
        "view": view.attrs.get("view"),
        "rows": len(view),
        **{k: v for k, v in view.attrs.items() if k != "view"},
    }
