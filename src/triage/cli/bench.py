"""`triage bench anomaly`: score session files with a session anomaly model and print precision/recall/F1."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

bench_app = typer.Typer(help="Measure models on labelled files.", no_args_is_help=True)


def _read_sessions(path: Path, label: str):  # -> SessionFile (imported lazily)
    from triage.errors import InvalidInput
    from triage.features.sessions import parse_session_lines

    if not path.is_file():
        raise InvalidInput(f"--{label}: no such file: {path}")
    try:
        with path.open(encoding="utf-8") as handle:
            return parse_session_lines(handle, source=path.name)
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"--{label}: {path.name} is not UTF-8 text (byte {exc.start})") from exc


@bench_app.command("anomaly")
def anomaly(
    train: Annotated[Path, typer.Option("--train", help="Normal sessions to train on.")],
    test_normal: Annotated[Path, typer.Option("--test-normal", help="Normal test sessions.")],
    test_abnormal: Annotated[Path, typer.Option("--test-abnormal", help="Anomalous test sessions.")],
    method: Annotated[
        str, typer.Option("--method", help="'ensemble' or detectors joined by '+': new, count, pca, invariants, ngram.")
    ] = "ensemble",
    fpr: Annotated[float, typer.Option("--fpr", help="Target false-positive rate on normal data (0-0.5).")] = 0.001,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of a table.")] = False,
) -> None:
    """Train an unsupervised session model on TRAIN, test it on the two test files, print P/R/F1.

    Files hold one session per line: optionally `ID,` and then space-separated event ids. The threshold
    comes from the training file only (see triage.modeling.anomaly).
    """
    import time

    import numpy as np

    from triage.cli._common import print_json
    from triage.modeling.anomaly import binary_metrics, is_anomaly, make_session_detector

    detector = make_session_detector(method, fpr=fpr)  # validates method and fpr before reading files
    train_sessions = _read_sessions(train, "train")
    normal = _read_sessions(test_normal, "test-normal")
    abnormal = _read_sessions(test_abnormal, "test-abnormal")
    started = time.perf_counter()
    detector.fit(list(train_sessions.sequences))
    fit_s = time.perf_counter() - started
    started = time.perf_counter()
    flags = np.concatenate([is_anomaly(detector, list(abnormal.sequences)), is_anomaly(detector, list(normal.sequences))])
    score_s = time.perf_counter() - started
    truth = np.concatenate([np.ones(len(abnormal), dtype=bool), np.zeros(len(normal), dtype=bool)])
    result = {
        "method": method,
        "members": list(detector.members_),
        "fpr_target": fpr,
        "effective_fpr": round(detector.effective_fpr_, 6),  # higher than the target on small training sets
        "estimated_fpr": round(detector.estimated_fpr_, 6),
        "train_sessions": len(train_sessions),
        "test_normal": len(normal),
        "test_abnormal": len(abnormal),
        **{k: (round(v, 6) if isinstance(v, float) else v) for k, v in binary_metrics(truth, flags).items()},
        "fit_seconds": round(fit_s, 3),
        "score_ms_per_session": round(1000 * score_s / max(1, len(truth)), 4),
    }
    if as_json:
        print_json(result)
        return
    typer.echo(
        f"train {result['train_sessions']} sessions; test {result['test_abnormal']} abnormal + "
        f"{result['test_normal']} normal; method {method} ({'+'.join(result['members'])}), target fpr {fpr}"
    )
    if detector.effective_fpr_ > fpr * 1.000001:
        typer.echo(f"note: {result['train_sessions']} training sessions cannot support fpr {fpr}; "
                   f"the thresholds aim for {result['effective_fpr']:.4g} instead")
    typer.echo(f"{'precision':>9} {'recall':>7} {'f1':>7} {'tp':>7} {'fp':>7} {'fn':>7} {'tn':>7}")
    typer.echo(
        f"{result['precision']:>9.4f} {result['recall']:>7.4f} {result['f1']:>7.4f} "
        f"{result['tp']:>7} {result['fp']:>7} {result['fn']:>7} {result['tn']:>7}"
    )


def register(app: typer.Typer) -> None:
    app.add_typer(bench_app, name="bench")
