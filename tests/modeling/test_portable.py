"""The portable copy of the error classifier predicts what the fitted estimator predicts, without scikit-learn."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from triage.modeling import portable
from triage.modeling.classification import ClassifierError, ErrorClassifier, ErrorClassifierConfig

COLUMNS = ["message", "template", "level", "service"]


def _events(examples: pd.DataFrame) -> pd.DataFrame:
    frame = examples[[c for c in COLUMNS if c in examples.columns]].copy()
    extra = pd.DataFrame([  # shapes the training rows may not have: no template, odd level, no service words
        {"message": "java.net.SocketTimeoutException: Read timed out", "template": "", "level": "warning",
         "service": "ts-order-service"},
        {"message": "HikariPool-1 - Connection is not available, request timed out after 30000ms",
         "template": None, "level": None, "service": "1234"},
        {"message": "", "template": "<*> <*>", "level": "host-17", "service": ""},
    ])  # fmt: skip
    return pd.concat([frame, extra], ignore_index=True)


def _round_trip(model: ErrorClassifier, tmp_path: Path) -> portable.PortableErrorClassifier:
    spec, arrays = model.to_portable()
    path = tmp_path / portable.PORTABLE_FILE
    portable.save(path, spec, arrays)
    return portable.load(path)


@pytest.mark.parametrize(
    "kind",
    [
        {"model": "lightgbm"},  # the default: trees stacked on the linear model
        {"model": "linear"},
        {"model": "lightgbm", "stacking": "none", "calibration": "isotonic"},
        {"model": "linear", "calibration": "temperature"},
    ],
    ids=["stacked-sigmoid", "linear-sigmoid", "trees-isotonic", "linear-temperature"],
)
def test_the_portable_copy_predicts_what_the_estimator_predicts(labelled_examples, small_config, tmp_path, kind):
    config = small_config.model_copy(update={k: v for k, v in kind.items() if k != "model"})
    model = config.estimator(kind["model"]).fit(labelled_examples, labelled_examples[["category", "severity"]])
    copy = _round_trip(model, tmp_path)
    events = _events(labelled_examples.sample(300, random_state=1))
    np.testing.assert_allclose(copy.predict_proba(events), model.predict_proba(events), rtol=0, atol=1e-6)
    np.testing.assert_allclose(copy.predict_severity_proba(events), model.predict_severity_proba(events),
                               rtol=0, atol=1e-6)  # fmt: skip
    expected, got = model.predict_frame(events), copy.predict_frame(events)
    assert (got["category"] == expected["category"]).all() and (got["severity"] == expected["severity"]).all()
    assert list(got.index) == list(expected.index)
    one = copy.classify([{"message": "Connection refused", "service": "db", "level": "ERROR"}])[0]
    assert one["category"] in set(model.classes_) and 0 < one["category_confidence"] <= 1


def test_the_portable_copy_loads_without_scikit_learn(trained_classifier, tmp_path: Path) -> None:
    spec, arrays = trained_classifier.estimator.to_portable()
    path = tmp_path / portable.PORTABLE_FILE
    portable.save(path, spec, arrays)
    code = (
        "import sys\n"
        "from triage.modeling import portable\n"
        f"m = portable.load({str(path)!r})\n"
        "row = m.classify([{'message': 'OutOfMemoryError: Java heap space', 'level': 'ERROR', 'service': 'api'}])[0]\n"
        "heavy = sorted(n for n in ('sklearn', 'scipy', 'pandas', 'lightgbm') if n in sys.modules)\n"
        "print(row['category'], heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    category, heavy = out.stdout.split(" ", 1)
    assert heavy.strip() == "[]", out.stdout
    expected = trained_classifier.estimator.predict_frame(pd.DataFrame([{
        "message": "OutOfMemoryError: Java heap space", "level": "ERROR", "service": "api"}]))  # fmt: skip
    assert category == expected["category"].iloc[0]


def test_a_damaged_or_foreign_file_is_refused(trained_classifier, tmp_path: Path) -> None:
    path = tmp_path / portable.PORTABLE_FILE
    path.write_bytes(b"not an npz")
    with pytest.raises(portable.PortableFormatError, match="not a portable model"):
        portable.load(path)
    spec, arrays = trained_classifier.estimator.to_portable()
    portable.save(path, {**spec, "format": "something/9"}, arrays)
    with pytest.raises(portable.PortableFormatError, match="format"):
        portable.load(path)


def test_what_has_no_portable_form_is_refused(labelled_examples, small_config) -> None:
    model = ErrorClassifierConfig(**{**small_config.model_dump(), "model": "linear"}).estimator()
    model = model.fit(labelled_examples, labelled_examples[["category", "severity"]])
    model.category_head_.base_ = object()  # e.g. an estimator type this format does not know
    with pytest.raises(ClassifierError, match="no portable form"):
        model.to_portable()
