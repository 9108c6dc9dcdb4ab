"""Write the bundled labelled-example tables (``data/samples/labels/*.csv``) from the public datasets.

    python benchmarks/make_label_samples.py [--data DIR] [--out DIR]

``--data`` defaults to the repository's sibling ``shared/data``. Each table has the labelled-example
columns of :mod:`triage.modeling.labels` (see ``data/samples/labels/README.md`` for what each holds):

* ``bgl_alerts.csv`` — the 143 alert lines of Loghub BGL_2k with their alert tag mapped to the taxonomy.
* ``hadoop_faults.csv`` — fault-specific error events of the Hadoop fault-injection sessions.
* ``nezha_faults.csv`` — fault-window error lines of the Nezha TrainTicket cases (developer split).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
from benchmarks_data import bgl, default_data_dir, hadoop, nezha  # the script's folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=default_data_dir())
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "data" / "samples" / "labels")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, frame in (("bgl_alerts", bgl(args.data)), ("hadoop_faults", hadoop(args.data)),
                        ("nezha_faults", nezha(args.data))):  # fmt: skip
        path = args.out / f"{name}.csv"
        frame = frame.assign(ts=frame["ts"].dt.strftime("%Y-%m-%dT%H:%M:%S.%f"))
        frame.to_csv(path, index=False, lineterminator="\n")
        counts = pd.Series(frame["category"]).value_counts().to_dict()
        print(f"{path.name}: {len(frame)} rows {counts}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
