"""The event-texts view: one row per event with the words a classifier reads (pure, no I/O).

:data:`EVENT_TEXTS` joins the store's ``events`` with the ``templates`` table: ``ts, dataset, service,
level, template_id, template, message, n_lines``. ``level`` is upper-case or empty; ``message`` is the event's redacted ``content``,
``template`` the template's current text, ``dataset`` the service (the unit a chronological split is
made over). Events whose template is missing from ``templates`` keep an empty template text (their
message still carries the words), and are counted in ``df.attrs["n_without_template"]``.
"""

from __future__ import annotations

import pandas as pd

from triage.features.windows import FeatureViewError, ViewSchema, normalise_events

EVENT_TEXTS = ViewSchema(
    "event_texts",
    1,
    {
        "ts": "datetime",
        "dataset": "string",
        "service": "string",
        "level": "string",
        "template_id": "string",
        "template": "string",
        "message": "string",
        "n_lines": "int",
    },
    not_null=("template_id", "message"),
)


def event_texts(events: pd.DataFrame, templates: pd.DataFrame | None = None) -> pd.DataFrame:
    """The :data:`EVENT_TEXTS` view of an events frame (and the templates table, if given)."""
    df = normalise_events(events, need=("template_id", "content"))
    if templates is not None:
        missing = [c for c in ("template_id", "text") if c not in templates.columns]
        if missing:
            raise FeatureViewError(f"templates lack column(s) {', '.join(missing)}")
        texts = dict(zip(templates["template_id"].astype(str), templates["text"].astype(str), strict=True))
    else:
        texts = {}
    template = df["template_id"].map(texts)
    out = pd.DataFrame({
        "ts": df["ts"] if "ts" in df.columns else pd.Series(pd.NaT, index=df.index, dtype="datetime64[ns]"),
        "dataset": df["service"].astype(str),
        "service": df["service"].astype(str),
        "level": (df["level"].astype(object).where(df["level"].notna(), "") if "level" in df.columns
                  else pd.Series("", index=df.index)).astype(str),
        "template_id": df["template_id"],
        "template": template.fillna("").astype(str),
        "message": df["content"].astype(object).where(df["content"].notna(), "").astype(str),
        "n_lines": (pd.to_numeric(df["n_lines"], errors="coerce").fillna(1) if "n_lines" in df.columns
                    else pd.Series(1, index=df.index)).astype("int64"),
    })  # fmt: skip
    if not len(out):
        out["ts"] = pd.Series(dtype="datetime64[ns]")
        out["level"] = pd.Series(dtype=str)
    out = EVENT_TEXTS.validate(out)
    out.attrs["n_without_template"] = int(template.isna().sum())
    return out
