from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from triage.cli import main


def run(capsys, *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


@pytest.fixture
def files(fixtures_dir: Path) -> dict[str, str]:
    folder = fixtures_dir / "sessions"
    return {"train": str(folder / "hdfs_train_400"), "normal": str(folder / "hdfs_normal_300"),
            "abnormal": str(folder / "hdfs_abnormal_300")}


def test_bench_anomaly_prints_a_table(capsys, files) -> None:
    code, out, err = run(capsys, "bench", "anomaly", "--train", files["train"], "--test-normal", files["normal"],
                         "--test-abnormal", files["abnormal"])
    assert code == 0, err
    lines = out.strip().splitlines()
    assert lines[0].startswith("train 400 sessions; test 300 abnormal + 300 normal; method ensemble")
    assert lines[1].startswith("note: 400 training sessions cannot support fpr 0.001")
    lines.pop(1)
    assert lines[1].split() == ["precision", "recall", "f1", "tp", "fp", "fn", "tn"]
    _precision, _recall, f1, tp, fp, fn, tn = lines[2].split()
    assert int(tp) + int(fn) == 300 and int(fp) + int(tn) == 300
    assert float(f1) >= 0.95


def test_bench_anomaly_json_and_method(capsys, files) -> None:
    code, out, _ = run(capsys, "bench", "anomaly", "--train", files["train"], "--test-normal", files["normal"],
                       "--test-abnormal", files["abnormal"], "--json", "--method", "new+pca", "--fpr", "0.05")
    assert code == 0
    result = json.loads(out)
    assert result["members"] == ["new", "pca"] and result["fpr_target"] == 0.05
    assert result["effective_fpr"] == pytest.approx(0.05)  # 400 sessions support 2.5 % per member (5/400 = 1.25 %)
    assert result["tp"] + result["fn"] == 300 and result["fp"] + result["tn"] == 300
    assert 0 <= result["precision"] <= 1 and result["f1"] == pytest.approx(
        2 * result["precision"] * result["recall"] / (result["precision"] + result["recall"]), abs=1e-5)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--method", "deep-magic"], "unknown method"),
        (["--fpr", "0.9"], "fpr must be in"),
    ],
)
def test_bad_options_exit_2(capsys, files, extra: list[str], message: str) -> None:
    code, _, err = run(capsys, "bench", "anomaly", "--train", files["train"], "--test-normal", files["normal"],
                       "--test-abnormal", files["abnormal"], *extra)
    assert code == 2 and message in err and err.count("\n") == 1


def test_bad_files_exit_2(capsys, files, tmp_path: Path) -> None:
    missing = str(tmp_path / "nope")
    code, _, err = run(capsys, "bench", "anomaly", "--train", missing, "--test-normal", files["normal"],
                       "--test-abnormal", files["abnormal"])
    assert code == 2 and "--train: no such file" in err
    csv = tmp_path / "labelled.csv"
    csv.write_text("Sequence,label\n5 22 11,0\n")
    code, _, err = run(capsys, "bench", "anomaly", "--train", str(csv), "--test-normal", files["normal"],
                       "--test-abnormal", files["abnormal"])
    assert code == 2 and "labelled.csv:2" in err
    binary = tmp_path / "binary"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    code, _, err = run(capsys, "bench", "anomaly", "--train", files["train"], "--test-normal", str(binary),
                       "--test-abnormal", files["abnormal"])
    assert code == 2 and "not UTF-8" in err
    empty = tmp_path / "empty"
    empty.write_text("\n\n")
    code, _, err = run(capsys, "bench", "anomaly", "--train", str(empty), "--test-normal", files["normal"],
                       "--test-abnormal", files["abnormal"])
    assert code == 2 and "no sessions" in err


def test_console_script_end_to_end(files) -> None:
    """The installed entry point, in a fresh process: exit 0 and a result on stdout."""
    proc = subprocess.run([sys.executable, "-m", "triage.cli", "bench", "anomaly", "--train", files["train"],
                           "--test-normal", files["normal"], "--test-abnormal", files["abnormal"], "--json"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["train_sessions"] == 400
