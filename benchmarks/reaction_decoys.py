"""Oracle and decoy-generator figures on the USPTO-50k validation split (docs/design.md section 7).

Measures, on every row of ``uspto50k_valid.csv``:

* the oracle on real reactions: the fraction that passes (``ok``), that scores 1 (charge kept too),
  and the pass rate of each check;
* per decoy family D0-D4 (n = 5 asked per family and reaction, seed = row number): decoys made per
  reaction on average, the fraction of reactions with at least one, the oracle's detection rate
  (hard: verdict not ok; soft: score < 1) and its reasons, and the generator's run time per reaction.

The pool that D3 and D4 draw on is the whole file (each reaction's own product is excluded by the
identical-product rule, its own template is applied as "wrong site"); these are generator figures,
not a model evaluation, which must build the pool from its training part only.

Run: ``.venv/bin/python benchmarks/reaction_decoys.py [--limit N] [--jobs 2] [--json out.json]``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import platform
import statistics
import time
from collections import Counter
from pathlib import Path

import pandas as pd
import rdkit

import chemnoether  # noqa: F401 - before anything that imports dgl
from chemnoether.reactions import (
    FAMILIES,
    GENERATORS,
    ReactionPool,
    oracle_checks,
    oracle_table,
    parse_reaction,
)

DEFAULT_CSV = Path("/work/shared/data/reactions/uspto50k_valid.csv")
COLUMN = "reactants>reagents>production"
_POOL: ReactionPool | None = None  # set before the workers fork, so they share it


def _one(args: tuple[int, str, int]) -> dict:
    """Decoys of every family for one reaction: counts, oracle flags and reason codes, seconds."""
    row, text, n = args
    reaction = parse_reaction(text)
    out = {}
    for family in FAMILIES:
        extra = (_POOL,) if family in ("D3", "D4") else ()
        start = time.perf_counter()
        decoys = GENERATORS[family](reaction, row, *extra, n=n)
        seconds = time.perf_counter() - start
        verdicts = [oracle_checks(d.reaction) for d in decoys]
        out[family] = {
            "made": len(decoys),
            "hard": sum(not v.ok for v in verdicts),
            "soft": sum(v.score < 1 for v in verdicts),
            "codes": [c.split(":")[0] for v in verdicts for c in set(v.codes)],
            "own_template": sum(d.note.startswith("own template") for d in decoys),
            "seconds": seconds,
        }
    return out


def main() -> None:
    global _POOL
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--csv", type=Path, default=DEFAULT_CSV)
    parser.add_argument("--limit", type=int, default=None, help="only the first N rows get decoys")
    parser.add_argument("--n", type=int, default=5, help="decoys asked per family and reaction")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    texts = pd.read_csv(args.csv)[COLUMN].tolist()
    result = {"rows": len(texts), "duplicate_rows": len(texts) - len(set(texts))}
    start = time.perf_counter()
    table = oracle_table(texts)
    result["oracle_seconds_per_reaction"] = (time.perf_counter() - start) / len(texts)
    result["real"] = {
        "parse_errors": int(table["error"].notna().sum()),
        "ok": float(table["ok"].mean()),
        "score_1": float((table["score"] == 1.0).mean()),
        **{c: float(table[c].astype(float).mean()) for c in ("element_subset", "mapped_elements", "formal_charge", "sanitization")},
    }

    reactions = [parse_reaction(t) for t in texts]
    start = time.perf_counter()
    _POOL = ReactionPool(reactions)
    result["pool_fingerprint_seconds"] = time.perf_counter() - start
    start = time.perf_counter()
    result["templates"] = len(_POOL.templates)
    result["template_extraction_seconds"] = time.perf_counter() - start

    work = [(i, t, args.n) for i, t in enumerate(texts[: args.limit])]
    start = time.perf_counter()
    if args.jobs > 1:
        with multiprocessing.get_context("fork").Pool(args.jobs) as workers:
            rows = workers.map(_one, work, chunksize=20)
    else:
        rows = [_one(w) for w in work]
    result["decoy_wall_seconds"] = time.perf_counter() - start
    result["reactions_with_decoys_asked"] = len(rows)
    result["families"] = {}
    for family in FAMILIES:
        per = [r[family] for r in rows]
        made = sum(p["made"] for p in per)
        seconds = [p["seconds"] for p in per]
        result["families"][family] = {
            "decoys_per_reaction": made / len(per),
            "reactions_with_one_or_more": sum(p["made"] > 0 for p in per) / len(per),
            "detected_hard": sum(p["hard"] for p in per) / made if made else float("nan"),
            "detected_soft": sum(p["soft"] for p in per) / made if made else float("nan"),
            "reasons": dict(Counter(c for p in per for c in p["codes"]).most_common()),
            "from_own_template": sum(p["own_template"] for p in per),
            "ms_per_reaction_mean": 1000 * statistics.fmean(seconds),
            "ms_per_reaction_median": 1000 * statistics.median(seconds),
            "ms_per_reaction_p95": 1000 * sorted(seconds)[int(0.95 * (len(seconds) - 1))],
        }
    result["machine"] = {"platform": platform.platform(), "python": platform.python_version(), "rdkit": rdkit.__version__, "jobs": args.jobs}

    real = result["real"]
    print(f"{result['rows']} rows ({result['duplicate_rows']} duplicate), {real['parse_errors']} parse errors")
    print(f"oracle on real reactions: ok {real['ok']:.4f}, score 1 {real['score_1']:.4f}, "
          f"charge kept {real['formal_charge']:.4f}; {1000 * result['oracle_seconds_per_reaction']:.2f} ms/reaction")  # fmt: skip
    print(f"pool: fingerprints {result['pool_fingerprint_seconds']:.1f} s, "
          f"{result['templates']} distinct templates in {result['template_extraction_seconds']:.1f} s")  # fmt: skip
    print("| family | decoys/reaction | reactions with >=1 | oracle detects (hard) | (hard or charge) | ms/reaction mean | median | p95 |")
    print("|---|---|---|---|---|---|---|---|")
    for family, f in result["families"].items():
        print(f"| {family} | {f['decoys_per_reaction']:.2f} | {f['reactions_with_one_or_more']:.4f} | {f['detected_hard']:.4f} | "
              f"{f['detected_soft']:.4f} | {f['ms_per_reaction_mean']:.1f} | {f['ms_per_reaction_median']:.1f} | "
              f"{f['ms_per_reaction_p95']:.1f} |")  # fmt: skip
    for family, f in result["families"].items():
        print(f"{family} reasons: {f['reasons']}")
    d4 = result["families"]["D4"]
    print(f"D4 decoys from the reaction's own template (wrong site): {d4['from_own_template']}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
