"""Log evidence: error bursts, log statements that vanished or appeared, and volume shifts per service.

Logs are grouped into templates (``template_id`` when the store mined them, otherwise
:func:`triage.rca.templates.template_keys`). Three comparisons against the baseline:

* **Error burst** — error-level lines of a service, against what its baseline share of all lines predicts.
* **Statement changes** — a fault inside a service makes some of its usual statements vanish (the code
  after the fault point no longer runs) and others appear (error paths). When lines carry trace ids the
  test is *conditional*: "in traces that log A, B used to follow in c of cases; now it follows in
  fewer/more" — immune to shifts in the request mix. A vanishing statement is judged against the baseline
  window where it was most regular, so an earlier fault inside one baseline window does not hide it.
  Without trace ids the test compares each template's share of its service's lines.
* **Volume** — a service logging much more or less than its share (requests no longer reaching it).

Strengths are Poisson log-likelihood ratios expressed as z-equivalents (sqrt(2·LLR)).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from triage.rca.bundle import IncidentBundle
from triage.rca.signals import empty_signals, signals_frame
from triage.rca.stats import llr_to_z, poisson_llr
from triage.rca.templates import template_keys

ERROR_LEVELS = frozenset({"ERROR", "FATAL"})


@dataclass(frozen=True, slots=True)
class LogEvidenceConfig:
    min_anchor_traces: int = 3  # an anchor statement must appear in this many baseline traces
    min_follow_ratio: float = 0.5  # ... and be followed by the vanishing statement at least this often
    rise_weight: float = 0.5  # appearing non-error statements are noisier than vanishing ones (new values, paths)
    min_trace_coverage: float = 0.5  # use the conditional test when this share of lines carry trace ids
    max_signals_per_service: int = 3


def log_signals(bundle: IncidentBundle, config: LogEvidenceConfig | None = None) -> pd.DataFrame:
    """Signals from the bundle's logs (empty without logs in both the baseline and the incident)."""
    cfg = config or LogEvidenceConfig()
    logs = bundle.logs
    manifest = bundle.manifest
    if logs is None or not len(logs) or manifest.incident_window is None or not manifest.baseline_windows:
        return empty_signals()
    ts = logs["ts"].to_numpy()
    window_index = np.zeros(len(logs), dtype=int)  # 0 = neither, 1..k = baseline window k, -1 = incident
    for i, window in enumerate(manifest.baseline_windows, start=1):
        window_index[(window_index == 0) & window.mask(ts)] = i
    window_index[(window_index == 0) & manifest.incident_window.mask(ts)] = -1
    frame = logs.assign(window=window_index)
    frame = frame[frame["window"] != 0]
    if not (frame["window"] > 0).any() or not (frame["window"] < 0).any():
        return empty_signals()
    has_id = frame["template_id"] != ""
    keys = frame["template_id"].where(has_id, template_keys(frame["message"]))
    frame = frame.assign(template=keys.astype(str), key=frame["service"] + "\x1f" + keys.astype(str))

    rows = _error_bursts(frame) + _volume_shifts(frame)
    traced = frame["trace_id"] != ""
    use_traces = traced[frame["window"] > 0].mean() >= cfg.min_trace_coverage and traced[
        frame["window"] < 0].mean() >= cfg.min_trace_coverage
    if use_traces:
        rows += _conditional_changes(frame[traced], cfg)
    else:
        rows += _share_changes(frame, cfg)
    signals = signals_frame(rows)
    if not len(signals):
        return signals
    # keep the strongest few per (service, kind) so one chatty service does not flood the evidence
    signals = signals.sort_values("strength", ascending=False)
    return signals.groupby(["service", "kind"], sort=False).head(cfg.max_signals_per_service).reset_index(drop=True)


def _error_bursts(frame: pd.DataFrame) -> list[dict[str, object]]:
    base, incident = frame[frame["window"] > 0], frame[frame["window"] < 0]
    is_error_b = base["level"].isin(ERROR_LEVELS)
    is_error_i = incident["level"].isin(ERROR_LEVELS)
    errors_b = base[is_error_b].groupby("service").size()
    errors_i = incident[is_error_i].groupby("service").size()
    total_b, total_i = len(base), len(incident)
    rows = []
    for service, observed in errors_i.items():
        expected = total_i * (float(errors_b.get(service, 0)) + 0.5) / (total_b + 1.0)
        if observed <= expected:
            continue
        z = float(llr_to_z(poisson_llr(observed, expected)))
        top = incident[is_error_i & (incident["service"] == service)]["template"].value_counts()
        rows.append({
            "service": service, "kind": "errors", "modality": "logs", "name": "error lines",
            "strength": z,
            "detail": f"{int(observed)} error lines in {service} (expected ~{expected:.1f}); "
                      f"most frequent: `{_short(str(top.index[0]))}`",
        })
    return rows


def _volume_shifts(frame: pd.DataFrame) -> list[dict[str, object]]:
    base, incident = frame[frame["window"] > 0], frame[frame["window"] < 0]
    count_b = base.groupby("service").size()
    count_i = incident.groupby("service").size()
    total_b, total_i = len(base), len(incident)
    services = count_b.index.union(count_i.index)
    rows = []
    for service in services:
        observed = float(count_i.get(service, 0))
        expected = total_i * (float(count_b.get(service, 0)) + 0.5) / (total_b + 0.5 * len(services))
        z = float(llr_to_z(poisson_llr(observed, expected)))
        if z <= 0:
            continue
        verb = "more" if observed > expected else "fewer"
        rows.append({
            "service": service, "kind": "traffic", "modality": "logs", "name": "log volume",
            "strength": z,
            "detail": f"{service} logged {verb} lines than its usual share ({int(observed)} vs ~{expected:.0f})",
        })
    return rows


def _conditional_changes(frame: pd.DataFrame, cfg: LogEvidenceConfig) -> list[dict[str, object]]:
    code, uniques = pd.factorize(frame["key"])
    keys = pd.Index(uniques)
    trace_codes, _ = pd.factorize(frame["trace_id"])

    def incidence(mask: np.ndarray) -> np.ndarray:
        traces, trace_code = np.unique(trace_codes[mask], return_inverse=True)
        matrix = np.zeros((len(traces), len(keys)), dtype=np.float32)
        matrix[trace_code, code[mask]] = 1.0
        return matrix

    windows = frame["window"].to_numpy()
    incident = incidence(windows < 0)
    m_a = incident.sum(axis=0)
    observed = incident.T @ incident  # [a, b]: incident traces with both a and b

    pooled = incidence(windows > 0)
    n_pooled = pooled.sum(axis=0)
    follow_pooled = (pooled.T @ pooled + 0.05) / (n_pooled[:, None] + 0.1)
    # vanishing: the follow ratio of the most regular baseline window that saw the anchor often enough
    follow_best = np.zeros_like(follow_pooled)
    for w in np.unique(windows[windows > 0]):
        part = incidence(windows == w)
        n_part = part.sum(axis=0)
        ratio = (part.T @ part) / np.maximum(n_part[:, None], 1.0)
        ratio[n_part < cfg.min_anchor_traces, :] = 0.0
        follow_best = np.maximum(follow_best, ratio)

    expected_drop = m_a[:, None] * follow_best
    drop = np.where(
        (observed < expected_drop) & (follow_best >= cfg.min_follow_ratio), poisson_llr(observed, expected_drop), 0.0
    )
    expected_rise = m_a[:, None] * follow_pooled
    rise = np.where((observed > expected_rise) & (m_a[:, None] >= cfg.min_anchor_traces),
                    poisson_llr(observed, expected_rise), 0.0)
    np.fill_diagonal(drop, 0.0)
    np.fill_diagonal(rise, 0.0)
    rows: list[dict[str, object]] = []
    levels = _key_levels(frame)
    # error lines that stop are good news, not a symptom; and error lines are too irregular to anchor on
    error_keys = np.asarray([levels.get(k, "") in ERROR_LEVELS for k in keys])
    drop[:, error_keys] = 0.0
    drop[error_keys, :] = 0.0
    rise[error_keys, :] = 0.0
    for matrix, vanished in ((drop, True), (rise, False)):
        best_anchor = matrix.argmax(axis=0)
        best = matrix[best_anchor, np.arange(len(keys))]
        for b in np.nonzero(best > 0)[0]:
            a = best_anchor[b]
            is_error = bool(error_keys[b])
            strength = float(llr_to_z(best[b])) * (1.0 if vanished or is_error else cfg.rise_weight)
            rows.append(_pattern_row(
                keys[b], strength, vanished, str(levels.get(keys[b], "")),
                f"after `{_short(keys[a].split(chr(31))[1])}` in {int(m_a[a])} traces, "
                f"seen {int(observed[a, b])} times (expected ~{(expected_drop if vanished else expected_rise)[a, b]:.1f})",
            ))
    return rows


def _share_changes(frame: pd.DataFrame, cfg: LogEvidenceConfig) -> list[dict[str, object]]:
    base, incident = frame[frame["window"] > 0], frame[frame["window"] < 0]
    count_b = base.groupby("key").size()
    count_i = incident.groupby("key").size()
    table = pd.concat([count_b.rename("b"), count_i.rename("i")], axis=1).fillna(0.0)
    service = table.index.str.split("\x1f").str[0]
    total_b = table.groupby(service)["b"].transform("sum")
    total_i = table.groupby(service)["i"].transform("sum")
    n_templates = table.groupby(service)["b"].transform("size")
    expected = total_i * (table["b"] + 0.5) / (total_b + 0.5 * n_templates)
    llr = poisson_llr(table["i"].to_numpy(), expected.to_numpy())
    levels = _key_levels(frame)
    rows = []
    for key, observed, exp, value in zip(table.index, table["i"], expected, llr, strict=True):
        if value <= 0 or total_b.get(key, 0) == 0:
            continue
        vanished = observed < exp
        if vanished and levels.get(key, "") in ERROR_LEVELS:
            continue  # error lines that stop are good news, not a symptom
        is_error = levels.get(key, "") in ERROR_LEVELS
        strength = float(llr_to_z(value)) * (1.0 if vanished or is_error else cfg.rise_weight)
        rows.append(_pattern_row(key, strength, vanished, str(levels.get(key, "")),
                                 f"seen {int(observed)} times (expected ~{exp:.1f} from its baseline share)"))
    return rows


def _pattern_row(key: str, strength: float, vanished: bool, level: str, why: str) -> dict[str, object]:
    service, template = key.split("\x1f", 1)
    if vanished:
        kind, what = "log_pattern", "log statement stopped"
    elif level in ERROR_LEVELS:
        kind, what = "errors", "exception burst"
    else:
        kind, what = "log_pattern", "new or bursting log statement"
    return {
        "service": service, "kind": kind, "modality": "logs", "name": template, "strength": strength,
        "detail": f"{what} in {service}: `{_short(template)}` — {why}",
    }


def _key_levels(frame: pd.DataFrame) -> pd.Series:
    """ERROR for a template that ever logged at error level, else its first level."""
    is_error = frame["level"].isin(ERROR_LEVELS)
    first = frame.groupby("key")["level"].first()
    errors = frame[is_error].groupby("key")["level"].first()
    first.loc[errors.index] = errors
    return first


def _short(text: str, limit: int = 90) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
