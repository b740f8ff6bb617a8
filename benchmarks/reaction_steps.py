"""Elementary mechanistic steps: held-out generated steps and their broken versions, plus synkit's steps.

1. **Generated test steps** (``chemnoether.reactions.step_data``): the steps of the *test*
   substrates (bucket 0-19 of the substrate hash; the scorer trains on fit substrates only, and
   selects and calibrates on val), every hydrogen written as an atom; their decoys E_charge,
   E_hydrogen, E_valence (broken charge / electron count, hydrogen from nowhere, impossible
   valence) and E_bond (a bond moved: atoms, charge, valence kept). Reported: median score of the
   real steps (and per kind), AUROC of ``score`` (and ``learned_score``) per family, with counts.
2. **External steps**: ``datasets/synkit_steps.csv``, the 9 paracetamol-synthesis steps and 14
   aldol-mechanism steps in PyPI ``synkit`` 1.6.3's data folder (MIT), written by others and never
   used for training or tuning. Rows with ``*`` dummy atoms are row errors, reported as such.

Run: ``.venv/bin/python benchmarks/reaction_steps.py [--model CKPT] [--substrates N] [--split test|val] [--out out/bench_steps]``
(``--split val``: validation substrates, for choices while developing; synkit's steps are not scored then).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

import chemnoether  # noqa: F401 - before anything that imports dgl
from chemnoether.reactions.api import score_reactions
from chemnoether.reactions.step_data import step_table, uspto_substrates
from chemnoether.reactions.steps import STEP_FAMILIES, Step, step_decoys
from chemnoether.reactions.train_scorer import COLUMN

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CSV = ROOT.parent / "shared" / "data" / "reactions" / "uspto50k_valid.csv"
SYNKIT = ROOT / "datasets" / "synkit_steps.csv"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--csv", type=Path, default=DEFAULT_CSV)
    parser.add_argument("--model", type=Path, default=None, help="scorer checkpoint (default: the shipped one)")
    parser.add_argument("--substrates", type=int, default=600, help="test substrates used (first N in sorted order)")
    parser.add_argument("--split", choices=("test", "val"), default="test",
                        help="substrates of this part (val: for choices while developing; synkit's steps are then not scored)")
    parser.add_argument("--out", type=Path, default=Path("out/bench_steps"))
    args = parser.parse_args()
    start = time.perf_counter()
    substrates = uspto_substrates(pd.read_csv(args.csv)[COLUMN].tolist())
    if args.split == "val":  # the last N: training calibrates on the first val substrates (train_scorer.add_steps)
        substrates = substrates[::-1]
    steps = step_table(substrates, args.split, args.substrates).drop_duplicates("reaction")
    rows = [{"step": j, "kind": k, "family": "real", "text": t} for j, (k, t) in enumerate(zip(steps["kind"], steps["reaction"], strict=True))]
    for j, text in enumerate(steps["reaction"]):
        rows += [{"step": j, "kind": steps["kind"].iloc[j], "family": f, "text": d} for f, d in step_decoys(Step("", text, ""), j)]
    table = pd.DataFrame(rows)
    print(f"{steps['substrate'].nunique()} {args.split} substrates, {len(steps)} steps, {len(table) - len(steps)} decoys "
          f"in {time.perf_counter() - start:.0f} s")  # fmt: skip
    table = pd.concat([table, score_reactions(table["text"].tolist(), model=args.model).drop(columns=["input"])], axis=1)
    real = table[table["family"] == "real"]
    result = {"model": str(args.model or "shipped"), "split": args.split, "substrates": int(steps["substrate"].nunique()),
              "steps": len(real), "real_ok": int(real["ok"].sum()), "real_oracle_ok": int(real["oracle_ok"].astype(bool).sum()),
              "median_score": float(real["score"].median()), "median_learned": float(real["learned_score"].median()),
              "per_kind": {k: {"n": len(g), "median_score": float(g["score"].median())} for k, g in real.groupby("kind")},
              "families": {}}  # fmt: skip
    for family in STEP_FAMILIES:
        decoys = table[table["family"] == family]
        result["families"][family] = {"score": _auroc(real["score"], decoys["score"]),
                                      "learned": _auroc(real["learned_score"], decoys["learned_score"]),
                                      "oracle_refuses": float((~decoys["oracle_ok"].astype(bool)).mean())}  # fmt: skip
    all_decoys = table[table["family"] != "real"]
    result["families"]["all"] = {"score": _auroc(real["score"], all_decoys["score"])}
    args.out.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out / f"reaction_steps_{args.split}_rows.csv.gz", index=False)
    if args.split != "test":  # the external test set is scored only with the test figures
        (args.out / f"reaction_steps_{args.split}.json").write_text(json.dumps(result, indent=2))
        print(json.dumps(result, indent=2))
        return
    external = pd.read_csv(SYNKIT)
    scored = score_reactions(external["reaction"].tolist(), model=args.model)
    external = pd.concat([external, scored.drop(columns=["input"])], axis=1)
    ok = external[external["ok"].astype(bool)]
    result["synkit"] = {"rows": len(external), "scored": len(ok), "row_errors": external.loc[~external["ok"].astype(bool), "error_type"].value_counts().to_dict(),
                        "median_score": float(ok["score"].median()), "min_score": float(ok["score"].min()),
                        "oracle_ok": int(ok["oracle_ok"].astype(bool).sum()),
                        "per_source": {s: float(g["score"].median()) for s, g in ok.groupby("source")}}  # fmt: skip
    (args.out / "reaction_steps.json").write_text(json.dumps(result, indent=2))
    external.to_csv(args.out / "synkit_scored.csv", index=False)
    print(json.dumps(result, indent=2))
    print(external[["source", "step", "score", "learned_score", "oracle_reasons", "byproducts", "spectators", "error_type"]].to_string())


def _auroc(real: pd.Series, decoy: pd.Series) -> dict:
    """AUROC of real against decoy values; NaN values (no learned score) are left out and counted."""
    r, d = real.dropna().to_numpy(), decoy.dropna().to_numpy()
    out = {"n_real": len(r), "n_decoys": len(d), "left_out": int(real.isna().sum() + decoy.isna().sum())}
    if len(r) and len(d):
        out["auroc"] = float(roc_auc_score(np.r_[np.ones(len(r)), np.zeros(len(d))], np.r_[r, d]))
    return out


if __name__ == "__main__":
    main()
