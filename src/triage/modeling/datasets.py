"""Labelled public datasets as labelled examples (pure: frames in, :data:`LABELLED_EXAMPLES` frames out).

Reading the files is the caller's business (benchmarks read ``../shared/data``; the bundled slices in
``data/samples/labels/`` were written by ``benchmarks/make_label_samples.py``). Each converter maps the
dataset's own label onto the taxonomy with ``rules/dataset_labels.yaml`` and keeps it in
``native_label``.

* :func:`bgl_examples` — BGL alert lines (Loghub ``BGL_2k.log_structured.csv``): the alert tag of each
  alert line. Non-alert lines are not error examples and are left out.
* :func:`hadoop_examples` — Hadoop fault-injection sessions (AIT parse of Loghub Hadoop): the fault type
  is known per *application*, not per line. An event is taken as an example of its application's fault
  when (a) its template occurs in applications of that one fault type only and never in a normal
  application, and (b) the template reads as an error (:data:`ERROR_WORDS`; the sessions carry no log
  level). Each (container, template) counts once. ``ts`` is synthetic, ordered by application id
  (resource-manager start, then sequence number), which is the order the jobs ran in.
* :func:`nezha_examples` — Nezha fault-injection cases: WARN/ERROR lines of the root-cause service from
  the injection to ``fault_duration_s + 60`` s later whose digit-masked text does not occur in the
  fault-free baseline minute; labelled with the case's fault type.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence

import pandas as pd

from triage.modeling.labels import LabelError, validate_examples
from triage.modeling.taxonomy import DEFAULT_TAXONOMY, Taxonomy, normalise_level, severity_for

#: Words that make a template an error line when no log level is available.
ERROR_WORDS = re.compile(
    r"error|exception|fail|fatal|timed out|timeout|refused|unable|could not|cannot|denied|lost|no route|"
    r"not enough space|killed|retry|retrying",
    re.IGNORECASE,
)
_APP = re.compile(r"application_(\d+)_(\d+)")


def bgl_examples(structured: pd.DataFrame, mapping: Mapping[str, str], *,
                 taxonomy: Taxonomy = DEFAULT_TAXONOMY) -> pd.DataFrame:
    """Alert lines of a BGL ``*_structured.csv`` frame (``Label != '-'``) as labelled examples."""
    need = ("Label", "Timestamp", "Component", "Level", "Content", "EventTemplate")
    _require(structured, need, "BGL structured log")
    alerts = structured[structured["Label"].astype(str) != "-"]
    unknown = sorted(set(alerts["Label"]) - set(mapping))
    if unknown:
        raise LabelError(f"BGL alert tag(s) without a taxonomy mapping: {', '.join(unknown)}")
    category = alerts["Label"].map(mapping)
    frame = pd.DataFrame({
        "ts": pd.to_datetime(alerts["Timestamp"], unit="s"),
        "dataset": "bgl",
        "service": alerts["Component"].astype(str),
        "level": alerts["Level"],
        "template": alerts["EventTemplate"],
        "message": alerts["Content"],
        "n_lines": 1,
        "category": category,
        "severity": [str(severity_for(c, lv, taxonomy)) for c, lv in zip(category, alerts["Level"], strict=True)],
        "label_source": "dataset:bgl",
        "native_label": alerts["Label"],
    })
    return validate_examples(frame, taxonomy=taxonomy)


def hadoop_examples(
    sessions: Iterable[tuple[str, Sequence[str]]],
    templates: Sequence[str],
    app_labels: Mapping[str, str],
    mapping: Mapping[str, str],
    *,
    normal_label: str = "normal",
    taxonomy: Taxonomy = DEFAULT_TAXONOMY,
) -> pd.DataFrame:
    """Fault-specific error events of Hadoop container sessions (see the module doc).

    ``sessions``: ``(container_id, event ids)`` pairs, ids 1-based into ``templates``; the container id
    contains ``application_<rm start>_<seq>``. ``app_labels``: application id -> fault type.
    """
    occurrences: dict[int, Counter[str]] = defaultdict(Counter)
    rows: list[tuple[str, str, int]] = []
    for container, events in sessions:
        match = _APP.search(container)
        if match is None:
            raise LabelError(f"Hadoop session id {container!r} names no application_<id>_<seq>")
        app = match.group(0)
        if app not in app_labels:
            raise LabelError(f"Hadoop application {app} has no fault label")
        for event in sorted({int(e) for e in events}):
            if not 1 <= event <= len(templates):
                raise LabelError(f"Hadoop event id {event} is not a line of the templates file")
            occurrences[event][app_labels[app]] += 1
            rows.append((app, container, event))
    exclusive = {
        event: next(iter(labels))
        for event, labels in occurrences.items()
        if len(labels) == 1 and normal_label not in labels and ERROR_WORDS.search(templates[event - 1])
    }
    kept = [(app, container, event) for app, container, event in rows if event in exclusive]
    unknown = sorted({exclusive[e] for _, _, e in kept} - set(mapping))
    if unknown:
        raise LabelError(f"Hadoop fault type(s) without a taxonomy mapping: {', '.join(unknown)}")
    order = [tuple(int(g) for g in _APP.search(app).groups()) for app, _, _ in kept]  # type: ignore[union-attr]
    frame = pd.DataFrame({
        "ts": [pd.Timestamp(rm_start, unit="ms") + pd.Timedelta(seconds=seq) for rm_start, seq in order],
        "dataset": "hadoop",
        "service": "hadoop",
        "level": "",
        "template": [templates[e - 1] for _, _, e in kept],
        "message": [templates[e - 1] for _, _, e in kept],
        "n_lines": 1,
        "category": [mapping[exclusive[e]] for _, _, e in kept],
        "label_source": "dataset:hadoop",
        "native_label": [exclusive[e] for _, _, e in kept],
    })
    frame["severity"] = [str(severity_for(c, "ERROR", taxonomy)) for c in frame["category"]]
    frame = frame.sort_values("ts", kind="stable")
    return validate_examples(frame, taxonomy=taxonomy)


def nezha_examples(
    logs: pd.DataFrame,
    *,
    fault_type: str,
    root_cause_service: str,
    inject_unix: float,
    fault_duration_s: float,
    baseline_messages: Iterable[str],
    mapping: Mapping[str, str],
    taxonomy: Taxonomy = DEFAULT_TAXONOMY,
) -> pd.DataFrame:
    """Fault-window error lines of one Nezha case that its baseline minute never shows."""
    _require(logs, ("unix_nano", "service", "level", "message"), "Nezha logs")
    if fault_type not in mapping:
        raise LabelError(f"Nezha fault type {fault_type!r} has no taxonomy mapping")
    base = {_masked(m) for m in baseline_messages}
    offset = logs["unix_nano"].astype("float64") / 1e9 - float(inject_unix)
    masked = logs["message"].astype(str).map(_masked)
    levels = logs["level"].map(normalise_level)
    keep = (
        (levels != "INFO") & (logs["service"] == root_cause_service) & (offset >= 0)
        & (offset <= fault_duration_s + 60) & ~masked.isin(base)
    )  # fmt: skip
    picked = logs[keep]
    category = mapping[fault_type]
    frame = pd.DataFrame({
        "ts": pd.to_datetime(picked["unix_nano"], unit="ns"),
        "dataset": "nezha",
        "service": picked["service"].astype(str),
        "level": levels[keep],
        "template": "",
        "message": picked["message"].astype(str).map(_strip_clock),
        "n_lines": picked["message"].astype(str).str.count("\n") + 1,
        "category": category,
        "severity": [str(severity_for(category, lv, taxonomy)) for lv in levels[keep]],
        "label_source": "dataset:nezha",
        "native_label": fault_type,
    })
    return validate_examples(frame, taxonomy=taxonomy)


_CLOCK = re.compile(r"^\d{2}:\d{2}:\d{2}\.\d+\s+(ERROR|WARN|INFO|DEBUG)\s+")


def _strip_clock(message: str) -> str:
    """Nezha messages start with the service's own clock and level; both are columns already."""
    return _CLOCK.sub("", message, count=1)


def _masked(message: str) -> str:
    return re.sub(r"\d+", "N", _strip_clock(str(message)))[:160]


def _require(frame: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise LabelError(f"{what}: expected a DataFrame, got {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise LabelError(f"{what} lacks column(s) {', '.join(missing)}")
