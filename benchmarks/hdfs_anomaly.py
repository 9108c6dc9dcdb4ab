"""HDFS block-session anomaly detection: the DeepLog split (unsupervised) and the LogRobust split (supervised).

Unsupervised protocol (hdfs_sessions/README.md): train on ``deeplog/hdfs_train`` only (4,855 normal
sessions from the first 100k log lines); test on every anomalous session (``deeplog/hdfs_test_abnormal``,
16,838) and, as normals, the 5,583 sessions of ``loghub_blockid/hdfs_train`` (DeepLog's 553,366-session
normal test file is not available). Thresholds come from the training file only. Because the normal
test set is ~100x smaller than DeepLog's, the table also gives each method's false-positive rate on
normals and the F1 it would have at DeepLog's class ratio (553,366 normals) with that rate.

Supervised protocol: fit on ``robustlog/robust_log_train.csv`` (12,000 labelled), test on
``robust_log_valid.csv`` (2,000; the LogRobust test file is absent); a second test set keeps only
sessions whose sequence never occurs in the supervised training file (abnormal: from
``deeplog/hdfs_test_abnormal``; normal: from ``loghub_blockid/hdfs_train``).

Run: ``.venv/bin/python benchmarks/hdfs_anomaly.py [--data DIR] [--json]``
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from triage.features.sessions import parse_session_lines
from triage.modeling.anomaly import (
    DEFAULT_FPR,
    SessionVectorizer,
    binary_metrics,
    is_anomaly,
    make_session_detector,
    make_supervised_session_model,
)

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
DEEPLOG_TEST_NORMALS = 553_366
SWEEP = (0.01,)  # besides the default 0.001: how the alarm budget trades recall for precision

UNSUPERVISED = [
    ("new", "new template (baseline)"),
    ("ngram", "n-gram next-template (DeepLog-style)"),
    ("new+pca", "PCA residual (Xu et al.) + new"),
    ("new+invariants", "invariants (Lou et al.) + new"),
    ("count", "count-vector novelty"),
    ("ensemble", "ensemble (default: count+ngram+pca)"),
]

PUBLISHED = [
    ("DeepLog (Du et al., CCS 2017), 553,366 normals", 0.95, 0.96, 0.96),
    ("DeepLog, logdeep reproduction", 0.9583, 0.9330, 0.9454),
    ("LogAnomaly, logdeep reproduction", 0.9690, 0.9825, 0.9757),
    ("ECVC count-vector clustering (Landauer et al. 2024)", None, None, 0.960),
    ("event+length+ECVC (Landauer et al. 2024, best)", None, None, 0.988),
    ("LogRobust supervised, logdeep (robust_log split)", 0.9216, 0.9586, 0.9397),
]


def read_sessions(path: Path) -> list[tuple[str, ...]]:
    with path.open(encoding="utf-8") as handle:
        return list(parse_session_lines(handle, source=path.name).sequences)


def read_labelled(path: Path) -> tuple[list[tuple[str, ...]], np.ndarray]:
    frame = pd.read_csv(path)
    return [tuple(s.split()) for s in frame["Sequence"]], frame["label"].to_numpy(dtype=int)


def projected_f1(recall: float, tp: int, fpr_normals: float, n_normals: int = DEEPLOG_TEST_NORMALS) -> float:
    fp = fpr_normals * n_normals
    precision = tp / (tp + fp) if tp + fp else 0.0
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def latency_us(detector, sessions: list[tuple[str, ...]], n: int = 2000) -> tuple[float, float]:
    times = []
    for seq in sessions[:n]:
        started = time.perf_counter()
        detector.score_one(seq)
        times.append(time.perf_counter() - started)
    return float(np.percentile(times, 50) * 1e6), float(np.percentile(times, 99) * 1e6)


def unsupervised(data: Path) -> list[dict]:
    base = data / "hdfs_sessions"
    train = read_sessions(base / "deeplog" / "hdfs_train")
    abnormal = read_sessions(base / "deeplog" / "hdfs_test_abnormal")
    normal = read_sessions(base / "loghub_blockid" / "hdfs_train")
    truth = np.r_[np.ones(len(abnormal), bool), np.zeros(len(normal), bool)]
    rows = []
    runs = [(method, label, fpr) for fpr in (DEFAULT_FPR, *SWEEP) for method, label in UNSUPERVISED]
    for method, label, fpr in runs:
        started = time.perf_counter()
        detector = make_session_detector(method, fpr=fpr).fit(train)
        fit_s = time.perf_counter() - started
        started = time.perf_counter()
        flags = np.r_[is_anomaly(detector, abnormal), is_anomaly(detector, normal)]
        score_s = time.perf_counter() - started
        m = binary_metrics(truth, flags)
        fpr_normals = m["fp"] / len(normal)
        p50, p99 = latency_us(detector, abnormal[:1000] + normal[:1000])
        rows.append({
            "method": method, "label": label, "fpr": fpr, **m, "fpr_normals": fpr_normals,
            "estimated_fpr": detector.estimated_fpr_,
            "f1_at_deeplog_ratio": projected_f1(m["recall"], m["tp"], fpr_normals),
            "fit_s": fit_s, "score_us_batch": 1e6 * score_s / len(truth), "score_one_p50_us": p50,
            "score_one_p99_us": p99,
        })
    return rows


def supervised(data: Path) -> list[dict]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    base = data / "hdfs_sessions"
    x_train, y_train = read_labelled(base / "robustlog" / "robust_log_train.csv")
    x_valid, y_valid = read_labelled(base / "robustlog" / "robust_log_valid.csv")
    seen = set(x_train)
    abnormal = [s for s in read_sessions(base / "deeplog" / "hdfs_test_abnormal") if s not in seen]
    normal = [s for s in read_sessions(base / "loghub_blockid" / "hdfs_train") if s not in seen]
    x_new = abnormal + normal
    y_new = np.r_[np.ones(len(abnormal), int), np.zeros(len(normal), int)]
    models = {
        "LightGBM on template counts": make_supervised_session_model(),
        "logistic regression (baseline)": make_pipeline(SessionVectorizer(), LogisticRegression(max_iter=2000)),
    }
    rows = []
    for name, model in models.items():
        started = time.perf_counter()
        model.fit(x_train, y_train)
        fit_s = time.perf_counter() - started
        for test_name, x, y in (("robust_log_valid", x_valid, y_valid),
                                (f"unseen sequences ({len(abnormal)} abn + {len(normal)} norm)", x_new, y_new)):
            m = binary_metrics(y == 1, model.predict(x) == 1)
            rows.append({"model": name, "test": test_name, **m, "fit_s": fit_s})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="shared data folder")
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    args = parser.parse_args(argv)
    if not (args.data / "hdfs_sessions").is_dir():
        print(f"no hdfs_sessions under {args.data}; pass --data", file=sys.stderr)
        return 2
    unsup = unsupervised(args.data)
    sup = supervised(args.data)
    if args.json:
        print(json.dumps({"unsupervised": unsup, "supervised": sup}, indent=1))
        return 0
    print("## HDFS, DeepLog split, unsupervised (train deeplog/hdfs_train; test 16,838 abnormal + 5,583 normal)")
    print("| method | fpr | P | R | F1 | FP | FN | FPR normals | est. FPR (train) | F1 at 553k normals | fit s | µs/session batch | score_one p50/p99 µs |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in unsup:
        print(f"| {r['label']} | {r['fpr']} | {r['precision']:.4f} | {r['recall']:.4f} | **{r['f1']:.4f}** | {r['fp']} | {r['fn']} | "
              f"{r['fpr_normals']:.4f} | {r['estimated_fpr']:.4f} | {r['f1_at_deeplog_ratio']:.4f} | {r['fit_s']:.2f} | "
              f"{r['score_us_batch']:.1f} | {r['score_one_p50_us']:.0f}/{r['score_one_p99_us']:.0f} |")
    print("\n## HDFS, LogRobust split, supervised (train robust_log_train.csv)")
    print("| model | test | P | R | F1 | FP | FN | fit s |")
    print("|---|---|---|---|---|---|---|---|")
    for r in sup:
        print(f"| {r['model']} | {r['test']} | {r['precision']:.4f} | {r['recall']:.4f} | **{r['f1']:.4f}** | "
              f"{r['fp']} | {r['fn']} | {r['fit_s']:.2f} |")
    print("\n## Published (data README; different normal test sets)")
    print("| method | P | R | F1 |")
    print("|---|---|---|---|")
    for name, p, r, f in PUBLISHED:
        fmt = lambda v: "—" if v is None else f"{v:.4f}"  # noqa: E731
        print(f"| {name} | {fmt(p)} | {fmt(r)} | {fmt(f)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
