"""Metric evidence: robust deviation of every per-service metric from its baseline.

For each (service, instance, metric) series the baseline gives a median and a robust scale
(MAD / IQR, with floors so that a flat baseline does not make every wiggle infinite). The incident is
summarised by a high order statistic (a max that needs the deviation to last a little), in the
direction that means trouble for that kind of metric (CPU up, success rate down, traffic either way).
The deviation is then divided by how far the baseline itself strays (its own upper quantile), so a
metric that is always spiky does not outshout a steady one that broke. Host-level metrics shared by
several services (same values in two services) say nothing about which service is at fault and are
skipped.

A request rate that falls to zero is judged separately and scale-free (``stopped``): a quiet service that
stops being called is as telling as a busy one, and usually the victim of a caller that changed.

Metric meaning comes from its name, with a small vocabulary that is common across exporters
(cpu, mem, latency/lat/duration, error/fail, success, workload/qps/lod, net/bytes, io/syscall).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from triage.rca.bundle import IncidentBundle
from triage.rca.signals import empty_signals, signals_frame
from triage.rca.stats import MAD_TO_SIGMA, llr_to_z


@dataclass(frozen=True, slots=True)
class MetricRule:
    """Maps metric names to an evidence kind and the direction that is bad."""

    pattern: re.Pattern[str]
    kind: str
    direction: str  # up | down | both
    label: str  # words for the issue name


#: First match wins. Order matters: "success rate" before "rate", "client latency" before "latency".
METRIC_RULES: tuple[MetricRule, ...] = (
    MetricRule(re.compile(r"^node|host|machine", re.I), "skip", "both", "host"),
    MetricRule(re.compile(r"success|availab|\bok\b", re.I), "errors", "down", "success rate drop"),
    MetricRule(re.compile(r"err|fail|5xx|exception|timeout|reject|drop", re.I), "errors", "up", "error rate"),
    MetricRule(re.compile(r"client.*(lat|duration|time)|(lat|duration).*client", re.I), "client_latency", "up",
               "slow outgoing calls"),
    MetricRule(re.compile(r"lat|duration|response.?time|elapsed|delay|p50|p90|p95|p99", re.I), "latency", "up",
               "latency"),
    MetricRule(re.compile(r"cpu|throttl", re.I), "resource", "up", "CPU contention"),
    MetricRule(re.compile(r"mem|rss|heap|oom|swap", re.I), "resource", "up", "memory pressure"),
    MetricRule(re.compile(r"thread|goroutine|handle|\bfd\b|file.?desc|conn", re.I), "resource", "up",
               "resource exhaustion"),
    MetricRule(re.compile(r"disk|\bio\b|iops|syscall|read|write|fs_", re.I), "io", "up", "I/O pressure"),
    MetricRule(re.compile(r"net|receive|transmit|\brx\b|\btx\b|bytes|packet", re.I), "io", "both",
               "network traffic change"),
    MetricRule(re.compile(r"workload|qps|rps|request|throughput|lod|load|ops|count|rate|calls", re.I),
               "traffic", "both", "traffic change"),
)
_NEEDS_TRAFFIC = frozenset({"latency", "client_latency", "errors"})
_OTHER = MetricRule(re.compile(""), "traffic", "both", "metric change")


def classify_metric(name: str) -> MetricRule:
    """The rule for a metric name (``traffic``/both when nothing matches)."""
    return next((rule for rule in METRIC_RULES if rule.pattern.search(name)), _OTHER)


@dataclass(frozen=True, slots=True)
class MetricEvidenceConfig:
    """Knobs of the metric deviation (defaults are dataset-independent)."""

    incident_fraction: float = 0.05  # order statistic of the incident: the k-th largest, k = 5 % of samples
    baseline_quantile: float = 0.9  # how far the baseline strays, as its 90th percentile |z|
    baseline_allowance: float = 3.0  # a steady baseline strays up to ~3 sigma; only more than that shrinks z
    rel_floor: float = 0.02  # scale >= 2 % of the baseline median
    abs_floor_fraction: float = 0.01  # scale >= 1 % of the metric's typical magnitude across services
    shared_fraction: float = 0.8  # a series whose non-zero values repeat in another service this often is shared
    min_baseline: int = 3
    min_incident: int = 1


def metric_signals(bundle: IncidentBundle, config: MetricEvidenceConfig | None = None) -> pd.DataFrame:
    """One signal per (service, metric) that deviates upward in trouble's direction (see module doc)."""
    cfg = config or MetricEvidenceConfig()
    metrics = bundle.metrics
    manifest = bundle.manifest
    if metrics is None or not len(metrics) or manifest.incident_window is None or not manifest.baseline_windows:
        return empty_signals()
    ts = metrics["ts"].to_numpy()
    in_base = np.zeros(len(metrics), dtype=bool)
    for window in manifest.baseline_windows:
        in_base |= window.mask(ts)
    in_incident = manifest.incident_window.mask(ts) & ~in_base
    frame = metrics.assign(phase=np.where(in_base, 1, np.where(in_incident, 2, 0)))
    frame = frame[frame["phase"] > 0]
    if not len(frame):
        return empty_signals()
    rules = {name: classify_metric(name) for name in frame["metric"].unique()}
    frame = frame[frame["metric"].map(lambda m: rules[m].kind != "skip")]
    shared = _shared_series(frame, cfg.shared_fraction)
    base_rows = frame[frame["phase"] == 1]
    typical = base_rows["value"].abs().groupby(base_rows["metric"]).quantile(0.95)

    frame = frame.assign(series=frame.groupby(["service", "instance", "metric"], sort=False).ngroup())
    base = frame[frame["phase"] == 1]
    incident = frame[frame["phase"] == 2]
    stats = _series_stats(base, incident, typical, cfg)
    stats = stats[(stats["n_base"] >= cfg.min_baseline) & (stats["n_incident"] >= cfg.min_incident)]

    idle = _idle_instances(frame, rules)
    rows: list[dict[str, object]] = []
    for row in stats.itertuples():
        if (row.service, row.instance, row.metric) in shared:
            continue
        rule = rules[row.metric]
        if rule.kind in _NEEDS_TRAFFIC and (row.service, row.instance) in idle:
            continue
        if rule.direction == "up" or (rule.direction == "both" and row.z_up >= row.z_down):
            z, now = row.z_up, row.high
        else:
            z, now = row.z_down, row.low
        if not np.isfinite(z) or z <= 0:
            continue
        where = row.service if not row.instance or row.instance == row.service else f"{row.service} ({row.instance})"
        rows.append({
            "service": row.service,
            "kind": rule.kind,
            "modality": "metrics",
            "name": row.metric,
            "strength": float(z),
            "detail": f"{row.metric} on {where} {_describe(row.center, now)} (robust z {z:.1f})",
        })
    rows += _stopped_traffic(base, incident, rules)
    return signals_frame(rows)


def _stopped_traffic(base: pd.DataFrame, incident: pd.DataFrame, rules: dict[str, MetricRule]
                     ) -> list[dict[str, object]]:
    """Services whose request rate fell to zero in the incident although it rarely does in the baseline.

    Scale-free (a quiet service at 0.2 req/s that stops is as telling as a busy one), so it is judged as a
    binomial rate of zero samples: the incident's share of zeros against the baseline's (smoothed).
    A service that stops being called is usually a victim: its caller changed what it does.
    """
    traffic = [name for name, rule in rules.items() if rule.kind == "traffic"]
    b = base[base["metric"].isin(traffic)]
    i = incident[incident["metric"].isin(traffic)]
    if not len(b) or not len(i):
        return []
    zero_b = (b["value"] == 0).groupby(b["series"]).agg(["sum", "size"])
    zero_i = (i["value"] == 0).groupby(i["series"]).agg(["sum", "size"])
    keys = b.groupby("series")[["service", "instance", "metric"]].first()
    table = keys.join(zero_b.add_suffix("_b")).join(zero_i.add_suffix("_i"), how="inner")
    rows = []
    for row in table.itertuples():
        k, n = float(row.sum_i), float(row.size_i)
        if k < 2 or row.sum_b >= 0.5 * row.size_b:
            continue  # a service idle half the baseline does not "stop"
        p0 = (row.sum_b + 0.5) / (row.size_b + 1.0)
        rate = k / n
        if rate <= p0:
            continue
        llr = k * np.log(rate / p0) + ((n - k) * np.log((1 - rate) / (1 - p0)) if k < n else 0.0)
        z = float(llr_to_z(llr))
        rows.append({
            "service": row.service, "kind": "stopped", "modality": "metrics", "name": row.metric,
            "strength": z,
            "detail": f"{row.service} received no requests in {int(k)} of {int(n)} incident samples of {row.metric} "
                      f"(baseline: {int(row.sum_b)} of {int(row.size_b)})",
        })
    return rows


def _series_stats(
    base: pd.DataFrame, incident: pd.DataFrame, typical: pd.Series, cfg: MetricEvidenceConfig
) -> pd.DataFrame:
    """Per series: baseline centre/scale/stray and the incident's high and low order statistics, vectorised."""
    keys = base.groupby("series")[["service", "instance", "metric"]].first()
    grouped = base.groupby("series")["value"]
    center = grouped.median()
    deviation = (base["value"] - base["series"].map(center)).abs()
    mad = deviation.groupby(base["series"]).median() * MAD_TO_SIGMA
    iqr = (grouped.quantile(0.75) - grouped.quantile(0.25)) / 1.349
    floor = (cfg.abs_floor_fraction * keys["metric"].map(typical).fillna(0.0)).clip(lower=1e-9)
    scale = pd.concat([mad, iqr, cfg.rel_floor * center.abs(), floor], axis=1).max(axis=1)
    stray = (deviation / base["series"].map(scale)).groupby(base["series"]).quantile(cfg.baseline_quantile)
    shrink = (stray / cfg.baseline_allowance).clip(lower=1.0)
    high = _order_statistic(incident, cfg.incident_fraction, descending=True)
    low = _order_statistic(incident, cfg.incident_fraction, descending=False)
    out = keys.assign(
        center=center, scale=scale, shrink=shrink, high=high, low=low,
        n_base=grouped.size(), n_incident=incident.groupby("series").size(),
    ).dropna(subset=["high", "low"])
    out["z_up"] = (out["high"] - out["center"]) / out["scale"] / out["shrink"]
    out["z_down"] = (out["center"] - out["low"]) / out["scale"] / out["shrink"]
    return out


def _order_statistic(frame: pd.DataFrame, fraction: float, *, descending: bool) -> pd.Series:
    """Per series, the k-th largest (or smallest) value with k = ceil(fraction·n), at least 1."""
    ordered = frame.sort_values(["series", "value"], ascending=[True, not descending])
    position = ordered.groupby("series").cumcount()
    size = ordered.groupby("series")["value"].transform("size")
    k = np.maximum(1, np.ceil(fraction * size.to_numpy())).astype(int)
    picked = ordered[position.to_numpy() == k - 1]
    return picked.set_index("series")["value"]


def _idle_instances(frame: pd.DataFrame, rules: dict[str, MetricRule]) -> set[tuple[str, str]]:
    """Instances whose traffic metrics are all zero: their latency/error series are exporter placeholders."""
    traffic = frame[frame["metric"].map(lambda m: rules[m].kind == "traffic")]
    if not len(traffic):
        return set()
    busiest = traffic["value"].abs().groupby([traffic["service"], traffic["instance"]]).max()
    return {key for key, value in busiest.items() if value == 0}


def _shared_series(frame: pd.DataFrame, fraction: float) -> set[tuple[str, str, str]]:
    """Series whose non-zero values mostly repeat, at the same time, in another service (host metrics)."""
    nonzero = frame[frame["value"] != 0]
    if not len(nonzero):
        return set()
    repeated = nonzero.duplicated(["metric", "ts", "value"], keep=False)
    share = repeated.groupby([nonzero["service"], nonzero["instance"], nonzero["metric"]]).mean()
    return {key for key, value in share.items() if value >= fraction}


def _describe(before: float, now: float) -> str:
    if before != 0 and np.isfinite(before) and np.sign(before) == np.sign(now):
        ratio = now / before
        if ratio >= 1.5:
            return f"rose {ratio:.1f}x ({_num(before)} -> {_num(now)})"
        if ratio <= 0.67:
            return f"fell to {ratio:.2f}x ({_num(before)} -> {_num(now)})"
    verb = "rose" if now > before else "fell"
    return f"{verb} {_num(before)} -> {_num(now)}"


def _num(value: float) -> str:
    return f"{value:.3g}"
