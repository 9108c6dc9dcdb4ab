"""Log evidence: error bursts, log statements that vanished or appeared, and volume shifts per service.

Logs are grouped into templates (``template_id`` when the store mined them, otherwise
:func:`triage.rca.templates.template_keys`). Three comparisons against the baseline:

* **Error burst** — error-level lines of a service, against what its baseline share of all lines predicts.
* **Statement changes** — a fault inside a service makes some of its usual statements vanish (the code
  after the fault point no longer runs) and others appear (error paths). When lines carry trace ids the
  test is *conditional*: "in traces that log A, B used to follow in c of cases; now it follows in
  fewer/more" — immune to shifts in the request mix. A vanishing statement is judged against the baseline
  window where it was most regular, so an earlier fault inside one baseline window does not hide it.
  Without trace ids the test compares each template's share of its service's lines. A statement that
  appears after some anchor is the best of many comparisons, so it is never scored as more surprising
  than its overall count change says.
* **Silenced statements** (when the bundle also has span aggregates) — a service still called as often
  (its server spans) that no longer logs what it logged per call runs a different code path: the fault is
  inside it. A service that is simply called less (a victim of a fault upstream) goes quiet as a whole
  and scores nothing here.
* **Volume** — a service logging much more or less than its share (requests no longer reaching it).

Strengths are Poisson log-likelihood ratios expressed as z-equivalents (sqrt(2·LLR)).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from triage.rca.bundle import BundleManifest, IncidentBundle
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
    min_served_calls: float = 3.0  # a service must serve this many calls in each phase to judge it silenced


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

    counts = _key_counts(frame)
    rows = _error_bursts(frame) + _volume_shifts(frame)
    traced = frame["trace_id"] != ""
    use_traces = traced[frame["window"] > 0].mean() >= cfg.min_trace_coverage and traced[
        frame["window"] < 0].mean() >= cfg.min_trace_coverage
    if use_traces:
        patterns = _conditional_changes(frame[traced], counts, cfg)
    else:
        patterns = _share_changes(frame, counts["level"], cfg)
    rows += patterns
    if bundle.calls is not None and len(bundle.calls):
        # per call AND within its own traces (or share): a shift in the request mix fools either test alone
        vanished = {(r["service"], r["name"]): float(r["strength"]) for r in patterns if r.get("vanished")}
        for row in _silenced_statements(counts, bundle.calls, manifest, cfg):
            row["strength"] = min(float(row["strength"]), vanished.get((row["service"], row["name"]), 0.0))
            if row["strength"] > 0:
                rows.append(row)
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
        rows.append({  # named after the error statement that makes up most of the burst
            "service": service, "kind": "errors", "modality": "logs", "name": str(top.index[0]),
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


def _incoming_calls(calls: pd.DataFrame, manifest: BundleManifest) -> pd.DataFrame:
    """Requests each service served, per phase (``base`` / ``incident``), from the span aggregates."""
    spans = calls[(calls["observer"] == "span") & (calls["caller"] != calls["callee"])]
    if not len(spans):
        return pd.DataFrame(columns=["base", "incident"])
    ts = spans["ts"].to_numpy()
    in_base = np.zeros(len(spans), dtype=bool)
    for window in manifest.baseline_windows:
        in_base |= window.mask(ts)
    in_incident = manifest.incident_window.mask(ts) & ~in_base
    count = spans["count"].fillna(1.0).to_numpy()
    callee = spans["callee"].to_numpy()
    return pd.DataFrame({
        "base": pd.Series(np.where(in_base, count, 0.0)).groupby(callee).sum(),
        "incident": pd.Series(np.where(in_incident, count, 0.0)).groupby(callee).sum(),
    })


def _silenced_statements(
    counts: pd.DataFrame, calls: pd.DataFrame, manifest: BundleManifest, cfg: LogEvidenceConfig
) -> list[dict[str, object]]:
    """Statements a service stopped logging although it is still called as often (traces say so).

    A service that is simply not called any more goes quiet as a whole: a victim of a fault upstream.
    One that keeps serving requests but no longer logs what it logged per request runs a different code
    path: the fault is inside it. Expected count = baseline count × (incident calls / baseline calls),
    corrected by the typical drift of lines per call across services (windows of logs and span buckets
    need not align).
    ``counts`` is :func:`_key_counts`.
    """
    served = _incoming_calls(calls, manifest)
    served = served[(served["base"] >= cfg.min_served_calls) & (served["incident"] >= cfg.min_served_calls)]
    if not len(served):
        return []
    lines = counts.groupby("service")[["b", "i"]].sum().reindex(served.index).fillna(0.0)
    ok = (lines["b"] > 0) & (lines["i"] > 0)
    if not ok.any():
        return []
    # typical change of lines per call across services (robust to the few whose code path changed)
    drift = float(np.median((lines.loc[ok, "i"] / served.loc[ok, "incident"])
                            / (lines.loc[ok, "b"] / served.loc[ok, "base"])))
    table = counts[counts["service"].isin(served.index) & ~counts["level"].isin(ERROR_LEVELS)]
    ratio = (served["incident"] / served["base"]).reindex(table["service"]).to_numpy() * drift
    expected = table["b"].to_numpy() * ratio
    observed = table["i"].to_numpy(dtype=float)
    llr = np.where(observed < expected, poisson_llr(observed, expected), 0.0)
    rows = []
    services, keys = table["service"].to_numpy(), table.index.to_numpy()
    for j in np.flatnonzero(llr > 0):
        service, template = str(services[j]), str(keys[j]).split("\x1f", 1)[1]
        rows.append({
            "service": service, "kind": "silenced", "modality": "logs", "name": template,
            "strength": float(llr_to_z(llr[j])),
            "detail": f"log statement stopped in {service} although it is still called: `{_short(template)}` — "
                      f"seen {int(observed[j])} times (expected ~{expected[j]:.1f} from its calls)",
        })
    return rows


def _conditional_changes(frame: pd.DataFrame, counts: pd.DataFrame, cfg: LogEvidenceConfig
                         ) -> list[dict[str, object]]:
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
    levels = counts["level"]
    # error lines that stop are good news, not a symptom; and error lines are too irregular to anchor on
    error_keys = np.asarray([levels.get(k, "") in ERROR_LEVELS for k in keys])
    drop[:, error_keys] = 0.0
    drop[error_keys, :] = 0.0
    rise[error_keys, :] = 0.0
    # a statement that appears after some anchor is the best of many comparisons: it may not be more
    # surprising than its overall count says (a rare line seen a few more times is not a burst)
    overall = _overall_rise(counts)
    for matrix, vanished in ((drop, True), (rise, False)):
        best_anchor = matrix.argmax(axis=0)
        best = matrix[best_anchor, np.arange(len(keys))]
        for b in np.nonzero(best > 0)[0]:
            a = best_anchor[b]
            is_error = bool(error_keys[b])
            z = float(llr_to_z(best[b]))
            if not vanished:
                z = min(z, float(overall.get(keys[b], 0.0)))
                if z <= 0:
                    continue
            strength = z * (1.0 if vanished or is_error else cfg.rise_weight)
            rows.append(_pattern_row(
                keys[b], strength, vanished, str(levels.get(keys[b], "")),
                f"after `{_short(keys[a].split(chr(31))[1])}` in {int(m_a[a])} traces, "
                f"seen {int(observed[a, b])} times (expected ~{(expected_drop if vanished else expected_rise)[a, b]:.1f})",
            ))
    return rows


def _overall_rise(counts: pd.DataFrame) -> pd.Series:
    """Per template key: z of its incident count against its baseline share of all lines (rises only)."""
    expected = counts["i"].sum() * (counts["b"] + 0.5) / (counts["b"].sum() + 1.0)
    observed = counts["i"].to_numpy(dtype=float)
    llr = np.where(observed > expected, poisson_llr(observed, expected.to_numpy()), 0.0)
    return pd.Series(llr_to_z(llr), index=counts.index)


def _share_changes(frame: pd.DataFrame, levels: pd.Series, cfg: LogEvidenceConfig) -> list[dict[str, object]]:
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
        "detail": f"{what} in {service}: `{_short(template)}` — {why}", "vanished": vanished,
    }


def _key_counts(frame: pd.DataFrame) -> pd.DataFrame:
    """Per template key: its service, level (ERROR if it ever logged at error level, else its first
    level) and line counts in the baseline (``b``) and the incident (``i``)."""
    code, keys = pd.factorize(frame["key"])
    window = frame["window"].to_numpy()
    n = len(keys)
    first = np.unique(code, return_index=True)[1]  # codes number keys in order of first appearance
    is_error = frame["level"].isin(ERROR_LEVELS).to_numpy()
    ever_error = np.bincount(code[is_error], minlength=n) > 0
    return pd.DataFrame({
        "service": frame["service"].to_numpy()[first],
        "level": np.where(ever_error, "ERROR", frame["level"].astype(str).to_numpy()[first]),
        "b": np.bincount(code[window > 0], minlength=n),
        "i": np.bincount(code[window < 0], minlength=n),
    }, index=pd.Index(keys, name="key"))


def _short(text: str, limit: int = 90) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
