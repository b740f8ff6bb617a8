"""End-to-end speed of ``chemnoether score-reactions``: two installations, alternating, one core.

Each run is the whole command as a user types it (interpreter start-up, imports, reading the CSV,
scoring, writing), pinned to one core (``taskset -c CORE``) with ``OMP_NUM_THREADS=1``; the two
commands alternate ``--repeats`` times so that both see the same load on a shared machine, and
the median wall time per reaction is reported for each.

Run: ``.venv/bin/python benchmarks/reaction_speed.py --old /work/main/.venv/bin/chemnoether
--new .venv/bin/chemnoether [--rows 5001] [--repeats 3] [--core 0]``
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import pandas as pd

DEFAULT_CSV = Path(__file__).resolve().parents[2] / "shared" / "data" / "reactions" / "uspto50k_valid.csv"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--old", required=True, help="the chemnoether command of the old installation")
    parser.add_argument("--new", required=True, help="the chemnoether command of the new installation")
    parser.add_argument("--csv", type=Path, default=DEFAULT_CSV)
    parser.add_argument("--rows", type=int, default=5001)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--core", type=int, default=0)
    args = parser.parse_args()
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "in.csv"
        texts = pd.read_csv(args.csv)["reactants>reagents>production"].head(args.rows)
        pd.DataFrame({"reaction": texts}).to_csv(source, index=False)
        times = {"old": [], "new": []}
        for _ in range(args.repeats):
            for name in ("old", "new"):
                command = ["taskset", "-c", str(args.core), getattr(args, name), "score-reactions", str(source),
                           "-o", str(Path(tmp) / f"{name}.csv"), "-q"]  # fmt: skip
                start = time.perf_counter()
                subprocess.run(command, env=env, check=True, capture_output=True)
                times[name].append(time.perf_counter() - start)
                print(f"{name}: {times[name][-1]:.2f} s")
    result = {name: {"seconds": t, "median_ms_per_reaction": 1e3 * statistics.median(t) / len(texts)} for name, t in times.items()}
    result["rows"] = len(texts)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
