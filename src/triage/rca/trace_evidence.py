"""Trace evidence: latency and shape of the calls between services, against the baseline.

From the ``calls`` table (span aggregates or per-edge latency series):

* **Server latency** of each service: its incoming operations (``caller != callee``) got slower, or
  collapsed (the median request ending far faster than usual: an early return or an exception).
* **Client latency**: a service's outgoing calls, seen from its side, got slower.
* **Network gap**: for one edge, the caller's view of a call minus the callee's view of the same call.
  Normally a few milliseconds; a network fault on the callee (or the link) grows it while the callee's
  own time stays flat. Client spans are matched to the callee's server operation by name (one name ends
  with the other, e.g. ``hipstershop.CurrencyService/Convert``); per-edge series measured at both ends
  (``observer`` caller / callee) give the same gap directly. With no baseline for an edge, the gap is
  compared with the other edges of the same incident.
* **Span pattern**: operations that stopped (or started) being called. A span disappears because its
  *parent* stopped calling it, so the change is credited to the parent service.
* **Calls per request** (``silenced``): a service that serves as many requests as before but sends fewer
  of some call per request runs a different code path (an early return, an exception before the call);
  one that is itself called less sends less and scores nothing.

Strengths are z-equivalents: log-ratios over a noise level (``log_noise``), shrunk for small counts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import nnls

from triage.rca.bundle import IncidentBundle
from triage.rca.signals import empty_signals, signals_frame
from triage.rca.stats import llr_to_z, poisson_llr

_CLIENT_SPAN = r"^(?:HTTP )?(?:GET|POST|PUT|DELETE|PATCH|HEAD|OPTIONS)\b"


@dataclass(frozen=True, slots=True)
class TraceEvidenceConfig:
    log_noise: float = 0.25  # minute-to-minute spread of a latency's log, when the baseline cannot say
    min_calls: float = 5.0  # an operation needs this many calls in a phase to judge its latency
    collapse_ratio: float = 0.2  # serving this much faster than usual counts as abnormal termination
    min_gap_s: float = 0.002  # network gaps below this are clock noise
    gap_rel_noise: float = 0.25  # a gap wanders by ~25 % of itself from minute to minute
    delay_ridge: float = 0.01  # splits a delay between explanations the data cannot separate
    delay_sparsity: float = 2.0  # L1 price of an explanation, in standard errors: one common cause beats many
    pattern_weight: float = 0.5  # span-count changes are noisier than latency changes (request mix)


def trace_signals(bundle: IncidentBundle, config: TraceEvidenceConfig | None = None) -> pd.DataFrame:
    """Signals from the bundle's call aggregates (empty without calls)."""
    cfg = config or TraceEvidenceConfig()
    calls = bundle.calls
    manifest = bundle.manifest
    if calls is None or not len(calls) or manifest.incident_window is None or not manifest.baseline_windows:
        return empty_signals()
    ts = calls["ts"].to_numpy()
    in_base = np.zeros(len(calls), dtype=bool)
    for window in manifest.baseline_windows:
        in_base |= window.mask(ts)
    in_incident = manifest.incident_window.mask(ts) & ~in_base
    frame = calls.assign(phase=np.where(in_base, "base", np.where(in_incident, "incident", "")))
    frame = frame[frame["phase"] != ""]
    if not (frame["phase"] == "incident").any():
        return empty_signals()
    spans = frame[frame["observer"] == "span"]
    rows: list[dict[str, object]] = []
    if len(spans):
        rows += _span_latency(spans, cfg)
        rows += _span_pattern(spans, cfg)
        rows += _calls_per_request(spans, cfg)
    edges = frame[frame["observer"].isin(["caller", "callee"])]
    pairs = [p for p in (_span_edges(spans) if len(spans) else None,
                         _observer_edges(edges) if len(edges) else None) if p is not None and len(p)]
    matched = pd.concat(pairs, ignore_index=True) if pairs else pd.DataFrame()
    covered = set(matched["caller"]) if len(matched) else set()
    aggregated = _caller_gaps(spans, covered) if len(spans) else pd.DataFrame()
    rows += _localise_delays(matched, aggregated, cfg)
    return signals_frame(rows)


def _phase_stats(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Per key: calls, call-weighted latencies (p50, mean) and the log-p50 spread, per phase (flat columns)."""
    weight = frame["count"].fillna(1.0).clip(lower=1.0)
    p50 = frame["latency_p50"].where(frame["latency_p50"].notna(), frame["latency_mean"])
    mean = frame["latency_mean"].where(frame["latency_mean"].notna(), p50)
    keep = (p50 > 0).fillna(False).to_numpy()
    work = frame.loc[keep, [*keys, "phase"]].assign(
        calls=weight[keep], wp50=(p50 * weight)[keep], wmean=(mean * weight)[keep], logp50=np.log(p50[keep]))
    grouped = work.groupby([*keys, "phase"], sort=False)
    out = grouped[["calls", "wp50", "wmean"]].sum()
    out["log_sd"] = grouped["logp50"].std()
    out["p50"] = out["wp50"] / out["calls"]
    out["mean"] = out["wmean"] / out["calls"]
    wide = out.drop(columns=["wp50", "wmean"]).unstack("phase")
    wide.columns = [f"{name}_{phase}" for name, phase in wide.columns]
    return wide


def _span_latency(spans: pd.DataFrame, cfg: TraceEvidenceConfig) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    server = spans[spans["caller"] != spans["callee"]]
    client = spans[(spans["caller"] == spans["callee"]) & spans["operation"].str.contains(_CLIENT_SPAN, regex=True)]
    for part, kind in ((server, "latency"), (client, "client_latency")):
        if not len(part):
            continue
        stats = _phase_stats(part, ["callee", "caller", "operation"])
        if "calls_base" not in stats.columns or "calls_incident" not in stats.columns:
            continue
        stats = stats[(stats["calls_base"] >= cfg.min_calls) & (stats["calls_incident"] >= cfg.min_calls)]
        before = np.maximum(stats["p50_base"], stats["mean_base"]).to_numpy()
        after = np.maximum(stats["p50_incident"], stats["mean_incident"]).to_numpy()
        noise = np.maximum(cfg.log_noise, np.nan_to_num(stats["log_sd_base"].to_numpy()))
        shrink = np.minimum(1.0, np.sqrt(np.minimum(stats["calls_base"], stats["calls_incident"]).to_numpy() / 20.0))
        change = np.log(after / before)
        slower = np.maximum(change, 0.0) / noise * shrink
        # cut short: the typical (median) request ends far faster, whatever a few slow ones do to the mean
        typical = np.log(stats["p50_incident"] / stats["p50_base"]).to_numpy()
        cut = (-typical / noise * shrink) * (np.exp(typical) <= cfg.collapse_ratio) if kind == "latency" else 0 * change
        for i in np.flatnonzero((slower > 0) | (cut > 0)):
            callee, caller, operation = stats.index[i]
            b, a = before[i] * 1e3, after[i] * 1e3
            if slower[i] > 0:
                side = f"from {caller}" if caller and caller != callee else "(its outgoing calls)"
                rows.append({"service": callee, "kind": kind, "modality": "traces", "name": operation,
                             "strength": float(slower[i]),
                             "detail": f"`{operation}` on {callee} {side} slowed {a / b:.1f}x ({b:.1f} -> {a:.1f} ms)"})
            if cut[i] > 0:
                b, a = stats["p50_base"].iloc[i] * 1e3, stats["p50_incident"].iloc[i] * 1e3
                rows.append({"service": callee, "kind": "span_pattern", "modality": "traces", "name": operation,
                             "strength": float(cut[i]),
                             "detail": f"`{operation}` on {callee} ends {b / a:.0f}x faster than usual "
                                       f"({b:.1f} -> {a:.2f} ms): requests cut short"})
    return rows


def _span_pattern(spans: pd.DataFrame, cfg: TraceEvidenceConfig) -> list[dict[str, object]]:
    """Operations whose share of their parent's spans changed; credited to the parent (caller)."""
    base = spans[spans["phase"] == "base"]
    incident = spans[spans["phase"] == "incident"]
    if not len(base):
        return []
    parent = spans["caller"].where(spans["caller"] != "", spans["callee"])
    spans = spans.assign(parent=parent)
    key = ["parent", "callee", "operation"]
    count_b = spans.loc[base.index].groupby(key)["count"].sum()
    count_i = spans.loc[incident.index].groupby(key)["count"].sum()
    table = pd.concat([count_b.rename("b"), count_i.rename("i")], axis=1).fillna(0.0)
    parents = table.index.get_level_values("parent")
    total_b = table.groupby(parents)["b"].transform("sum")
    total_i = table.groupby(parents)["i"].transform("sum")
    n_ops = table.groupby(parents)["b"].transform("size")
    expected = total_i * (table["b"] + 0.5) / (total_b + 0.5 * n_ops)
    llr = poisson_llr(table["i"].to_numpy(), expected.to_numpy())
    rows = []
    for (parent_service, callee, operation), observed, exp, value, tb in zip(
        table.index, table["i"], expected, llr, total_b, strict=True
    ):
        if value <= 0 or tb == 0 or observed >= exp:
            continue  # only vanishing calls: new ones are mostly the request mix
        target = f"{callee} `{operation}`" if callee != parent_service else f"`{operation}`"
        rows.append({
            "service": parent_service, "kind": "span_pattern", "modality": "traces", "name": operation,
            "strength": float(llr_to_z(value)) * cfg.pattern_weight,
            "detail": f"{parent_service} made fewer calls to {target} ({int(observed)} vs ~{exp:.0f} expected)",
        })
    return rows


def _calls_per_request(spans: pd.DataFrame, cfg: TraceEvidenceConfig) -> list[dict[str, object]]:
    """Requests a service stopped sending although it is still called as often: credited to the sender.

    A service that is itself called less sends less (a victim upstream of it, or the request mix); one that
    serves as many requests as before but sends fewer of a kind of call per request runs a different code
    path (an early return, an exception before the call). Expected = baseline count × (incident requests
    served / baseline requests served).
    """
    server = spans[spans["caller"] != spans["callee"]]
    count = server["count"].fillna(1.0)
    served = count.groupby([server["callee"], server["phase"]]).sum().unstack("phase")
    sent = server[server["caller"] != ""]
    if not len(sent) or not {"base", "incident"} <= set(served.columns):
        return []
    table = count[sent.index].groupby([sent["caller"], sent["callee"], sent["operation"], sent["phase"]]).sum()
    table = table.unstack("phase").reindex(columns=["base", "incident"]).fillna(0.0)
    callers = table.index.get_level_values(0)
    requests = served.reindex(callers)
    usable = ((requests["base"] >= cfg.min_calls) & (requests["incident"] >= cfg.min_calls)).to_numpy()
    expected = table["base"].to_numpy() * (requests["incident"] / requests["base"]).to_numpy()
    observed = table["incident"].to_numpy()
    llr = np.where(usable & (observed < expected), poisson_llr(observed, np.nan_to_num(expected)), 0.0)
    rows = []
    for (caller, callee, operation), obs, exp, value in zip(table.index, observed, expected, llr, strict=True):
        if value <= 0:
            continue
        rows.append({
            "service": caller, "kind": "silenced", "modality": "traces", "name": operation,
            "strength": float(llr_to_z(value)) * cfg.pattern_weight,
            "detail": f"{caller} sent fewer `{operation}` calls to {callee} per request it served "
                      f"({int(obs)} vs ~{exp:.0f} expected): its code path changed",
        })
    return rows


def _span_edges(spans: pd.DataFrame) -> pd.DataFrame:
    """Per (caller, callee, ts): the caller's client span and the callee's server span of the same operation."""
    server = spans[(spans["caller"] != "") & (spans["caller"] != spans["callee"])]
    client = spans[spans["caller"] == spans["callee"]]
    if not len(server) or not len(client):
        return pd.DataFrame()
    pairs = []
    server_ops = server[["caller", "callee", "operation"]].drop_duplicates()
    client_ops = client[["callee", "operation"]].drop_duplicates().rename(
        columns={"callee": "caller", "operation": "client_operation"})
    candidates = server_ops.merge(client_ops, on="caller")
    matched = candidates[[
        a == b or a.endswith(b) or b.endswith(a)
        for a, b in zip(candidates["operation"], candidates["client_operation"], strict=True)
    ]]
    if not len(matched):
        return pd.DataFrame()
    srv = server.merge(matched[["caller", "callee", "operation"]].drop_duplicates(),
                       on=["caller", "callee", "operation"])
    cli = client.rename(columns={"operation": "client_operation"}).drop(columns=["callee"]).merge(
        matched[["caller", "callee", "client_operation"]].drop_duplicates(), on=["caller", "client_operation"])
    for frame, side in ((srv, "callee_view"), (cli, "caller_view")):
        value = frame["latency_p50"].where(frame["latency_p50"].notna(), frame["latency_mean"])
        pairs.append(frame.assign(view=side, latency=value)[["caller", "callee", "ts", "phase", "view", "latency"]])
    both = pd.concat(pairs, ignore_index=True)
    return both.pivot_table(index=["caller", "callee", "ts", "phase"], columns="view", values="latency",
                            aggfunc="median").reset_index()


def _observer_edges(edges: pd.DataFrame) -> pd.DataFrame:
    view = edges["observer"].map({"caller": "caller_view", "callee": "callee_view"})
    return edges.assign(view=view).pivot_table(
        index=["caller", "callee", "ts", "phase"], columns="view", values="latency_p50", aggfunc="median"
    ).reset_index()


def _caller_gaps(spans: pd.DataFrame, covered: set[str]) -> pd.DataFrame:
    """Per caller and bucket: (time in its client spans - time its callees report) per call.

    For tracers whose client spans do not name the callee (``HTTP GET``), the gap is known per caller
    only; the share of its calls going to each callee (from the callees' server spans) says how a delay
    at one callee would show in it. Only buckets where client and server span counts agree are used.
    """
    client = spans[(spans["caller"] == spans["callee"]) & spans["operation"].str.contains(_CLIENT_SPAN, regex=True)
                   & ~spans["caller"].isin(covered)]
    server = spans[(spans["caller"] != "") & (spans["caller"] != spans["callee"]) & ~spans["caller"].isin(covered)]
    if not len(client) or not len(server):
        return pd.DataFrame()

    def totals(frame: pd.DataFrame) -> pd.DataFrame:
        latency = frame["latency_mean"].where(frame["latency_mean"].notna(), frame["latency_p50"])
        calls = frame["count"].fillna(1.0)
        return frame.assign(calls=calls, time=calls * latency).dropna(subset=["time"])

    client, server = totals(client), totals(server)
    c = client.groupby(["caller", "ts", "phase"])[["calls", "time"]].sum()
    v = server.groupby(["caller", "ts", "phase"])[["calls", "time"]].sum()
    joined = c.add_suffix("_client").join(v.add_suffix("_server"), how="inner")
    ratio = joined["calls_client"] / joined["calls_server"]
    joined = joined[(ratio > 0.8) & (ratio < 1.25)]
    if not len(joined):
        return pd.DataFrame()
    gap = (joined["time_client"] - joined["time_server"]) / joined["calls_client"]
    shares = server.groupby(["caller", "ts", "phase", "callee"])["calls"].sum().unstack("callee", fill_value=0.0)
    shares = shares.div(shares.sum(axis=1), axis=0)
    return gap.rename("gap").to_frame().join(shares, how="left").fillna(0.0).reset_index()


def _localise_delays(matched: pd.DataFrame, aggregated: pd.DataFrame, cfg: TraceEvidenceConfig) -> list[dict]:
    """Which services' delays explain the growth of the gaps: non-negative least squares.

    Model: service s may delay what it sends out (``out:s``: its requests, e.g. its own network or a
    starved CPU) and what it answers (``in:s``: responses to its callers, e.g. its network or accept queue).
    Gap growth on an edge C->X is out:C + in:X; on a caller C whose callees take shares f_X of its calls it is
    out:C + sum_X f_X in:X. Each observation is weighted by its noise (its baseline spread, the spread of
    similar observations, or a floor). A small ridge splits a delay evenly between explanations the data
    cannot tell apart (a caller with a single callee). A service's z is its larger delay over the standard
    error the observations give it.
    """
    equations: list[tuple[dict[str, float], float, float, str]] = []  # (coefficients, growth, sigma, label)
    if len(matched) and {"caller_view", "callee_view"} <= set(matched.columns):
        gaps = matched.dropna(subset=["caller_view", "callee_view"])
        gaps = gaps.assign(gap=gaps["caller_view"] - gaps["callee_view"])
        fallback = _incident_reference(gaps)
        pooled = _pooled_spread(gaps, ["caller", "callee"])
        for (caller, callee), part in gaps.groupby(["caller", "callee"]):
            coefficients = {f"out:{caller}": 1.0, f"in:{callee}": 1.0}
            base, incident = _split(part)
            sigma, reference = _noise(base, fallback, pooled, cfg)
            equations += [(coefficients, g - reference, sigma, f"{caller} -> {callee}") for g in incident]
    if len(aggregated):
        callees = [c for c in aggregated.columns if c not in ("caller", "ts", "phase", "gap")]
        fallback = _incident_reference(aggregated)
        pooled = _pooled_spread(aggregated, ["caller"])
        for caller, part in aggregated.groupby("caller"):
            base, _ = _split(part)
            sigma, reference = _noise(base, fallback, pooled, cfg)
            incident = part[part["phase"] == "incident"]
            share_rows = incident[callees].to_numpy(dtype=float)
            for gap, shares in zip(incident["gap"].to_numpy(dtype=float), share_rows, strict=True):
                if not np.isfinite(gap):
                    continue
                coefficients = {f"out:{caller}": 1.0}
                for j in np.flatnonzero(shares > 0):
                    coefficients[f"in:{callees[j]}"] = float(shares[j])
                equations.append((coefficients, float(gap - reference), sigma, f"{caller}'s outgoing calls"))
    if not equations:
        return []
    unknowns = sorted({u for coefficients, *_ in equations for u in coefficients})
    index = {u: i for i, u in enumerate(unknowns)}
    a = np.zeros((len(equations) + len(unknowns), len(unknowns)))
    b = np.zeros(len(equations) + len(unknowns))
    for row, (coefficients, growth, sigma, _) in enumerate(equations):
        for unknown, coef in coefficients.items():
            a[row, index[unknown]] = coef / sigma
        b[row] = growth / sigma
    information = np.sqrt((a[: len(equations)] ** 2).sum(axis=0))
    a[len(equations):] = np.diag(np.sqrt(cfg.delay_ridge) * np.maximum(information, 1e-9))
    delays = _sparse_nonnegative_fit(a, b, cfg.delay_sparsity * information)
    best: dict[str, tuple[float, float, str]] = {}
    for unknown, delay, info in zip(unknowns, delays, information, strict=True):
        side, service = unknown.split(":", 1)
        z = float(delay * info)
        if z > best.get(service, (0.0, 0.0, ""))[0]:
            best[service] = (z, float(delay), side)
    rows = []
    for service, (z, delay, side) in best.items():
        involved = [(growth, label) for coefficients, growth, _, label in equations
                    if coefficients.get(f"{side}:{service}")]
        growth, label = max(involved)
        what = f"calls to {service} wait" if side == "in" else f"calls from {service} wait"
        rows.append({
            "service": service, "kind": "network", "modality": "traces",
            "name": "incoming call delay" if side == "in" else "outgoing call delay",
            "strength": z,
            "detail": f"{what} ~{delay * 1e3:.0f} ms beyond the callees' own time "
                      f"(largest growth {growth * 1e3:.0f} ms on {label})",
        })
    return rows


def _sparse_nonnegative_fit(a: np.ndarray, b: np.ndarray, l1: np.ndarray) -> np.ndarray:
    """argmin ||a d - b||² + l1·d over d >= 0 (an L1 price per explanation: few causes beat many).

    The linear term is folded into the target: with aᵀw = l1/2, ||a d - (b - w)||² differs from the
    objective by a constant, so one plain NNLS solves it (``a`` has full column rank thanks to the ridge rows).
    """
    w = np.linalg.lstsq(a.T, l1 / 2.0, rcond=None)[0]
    delays, _ = nnls(a, b - w, maxiter=50 * a.shape[1])
    return delays


def _pooled_spread(frame: pd.DataFrame, keys: list[str]) -> float:
    """Typical minute-to-minute spread of a gap, pooled over keys with two or more baseline buckets."""
    base = frame[frame["phase"] == "base"]
    spreads = base.groupby(keys)["gap"].agg(lambda g: 1.4826 * float(np.median(np.abs(g - np.median(g))))
                                             if len(g) >= 2 else np.nan)
    spreads = spreads.dropna()
    return float(np.median(spreads)) if len(spreads) else 0.0


def _split(part: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    gaps = part["gap"].to_numpy(dtype=float)
    phase = part["phase"].to_numpy()
    base, incident = gaps[phase == "base"], gaps[phase == "incident"]
    return base[np.isfinite(base)], incident[np.isfinite(incident)]


def _incident_reference(frame: pd.DataFrame) -> tuple[float, float]:
    """(median, spread) of all incident gaps: the reference for an edge that has no baseline of its own."""
    others = frame.loc[frame["phase"] == "incident", "gap"].to_numpy(dtype=float)
    others = others[np.isfinite(others)]
    if not others.size:
        return 0.0, 0.0
    reference = float(np.median(others))
    return reference, 1.4826 * float(np.median(np.abs(others - reference))) if others.size >= 3 else 0.0


def _noise(base: np.ndarray, fallback: tuple[float, float], pooled: float, cfg: TraceEvidenceConfig
           ) -> tuple[float, float]:
    """(sigma, reference) of one edge or caller's gap: its baseline, else the incident's other gaps."""
    if base.size:
        reference = float(np.median(base))
        spread = 1.4826 * float(np.median(np.abs(base - reference))) if base.size >= 2 else 0.0
    else:
        reference, spread = fallback
    return max(spread, pooled, cfg.gap_rel_noise * abs(reference), cfg.min_gap_s), reference
