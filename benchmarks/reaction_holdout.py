"""Leave-kinds-out: how well the scorer rates elementary steps of kinds it never trained on.

The generated test steps (``reaction_steps.py``) share their kinds with training, so they measure
new molecules, not new kinds of step or new ways of writing one. Here each fold withholds some
step kinds (``--folds``: kind or group names of ``step_data.KIND_GROUPS``, folds separated by
``;``) from training (``train_scorer --holdout-kinds``, fit and val steps alike), then scores the
steps of *validation* substrates (the last ``--substrates`` in sorted order, as
``reaction_steps.py --split val``; never trained on) and their decoys: the withheld kinds' steps
stand in for the kinds a generator does not make, the other kinds are the control of the same run.
Short trainings (``--steps``, ``--epochs``) keep a fold to a few minutes; arguments not listed here
go to ``train_scorer`` unchanged (e.g. ``--refused-decoys false``). Test substrates and synkit's
steps are not used.

Run: ``OMP_NUM_THREADS=1 .venv/bin/python benchmarks/reaction_holdout.py --out out/holdout/base [train_scorer options]``
Writes ``holdout.json`` (per fold and pooled: steps, median score, AUROC against every decoy and
against E_bond, the decoys only the learned score can see) and the fold checkpoints to ``--out``.
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
from chemnoether.reactions.step_data import KIND_GROUPS, kinds_named, step_table, uspto_substrates
from chemnoether.reactions.steps import Step, step_decoys
from chemnoether.reactions.train_scorer import COLUMN
from chemnoether.reactions.train_scorer import main as train_scorer

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CSV = ROOT.parent / "shared" / "data" / "reactions" / "uspto50k_valid.csv"


def scored_steps(csv: Path, substrates: int) -> pd.DataFrame:
    """Steps of the last ``substrates`` validation substrates and their decoys: step, kind, family, text."""
    names = uspto_substrates(pd.read_csv(csv)[COLUMN].tolist())[::-1]  # the last: training calibrates on the first
    steps = step_table(names, "val", substrates).drop_duplicates("reaction").reset_index(drop=True)
    rows = []
    for j, (kind, text) in enumerate(zip(steps["kind"], steps["reaction"], strict=True)):
        rows.append({"step": j, "kind": kind, "family": "real", "text": text})
        rows += [{"step": j, "kind": kind, "family": f, "text": d} for f, d in step_decoys(Step("", text, ""), j)]
    return pd.DataFrame(rows)


def summary(table: pd.DataFrame) -> dict:
    """Median score of the real steps and AUROC of ``score`` against all decoys and E_bond, with counts."""
    real = table[table["family"] == "real"]
    out = {"steps": len(real), "median_score": float(real["score"].median()) if len(real) else float("nan")}
    for name, decoys in (("all", table[table["family"] != "real"]), ("E_bond", table[table["family"] == "E_bond"])):
        r, d = real["score"].dropna().to_numpy(), decoys["score"].dropna().to_numpy()
        out[f"auroc_{name}"] = float(roc_auc_score(np.r_[np.ones(len(r)), np.zeros(len(d))], np.r_[r, d])) if len(r) and len(d) else float("nan")
        out[f"decoys_{name}"] = len(d)
    out["left_out"] = int(table["score"].isna().sum())  # unscored rows (none expected), counted not dropped
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--csv", type=Path, default=DEFAULT_CSV)
    parser.add_argument("--folds", default=";".join(KIND_GROUPS), help="withheld kinds per fold, folds separated by ';'")
    parser.add_argument("--substrates", type=int, default=150, help="validation substrates scored")
    parser.add_argument("--steps", type=int, default=300, help="fit substrates of steps trained on (train_scorer --steps)")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--out", type=Path, default=Path("out/holdout"))
    args, train_args = parser.parse_known_args()
    args.out.mkdir(parents=True, exist_ok=True)
    folds = [f for f in args.folds.split(";") if f]
    start = time.perf_counter()
    table = scored_steps(args.csv, args.substrates)
    print(f"{(table['family'] == 'real').sum()} validation steps, {(table['family'] != 'real').sum()} decoys "
          f"in {time.perf_counter() - start:.0f} s", flush=True)  # fmt: skip
    result = {"folds": {}, "substrates": args.substrates, "steps": args.steps, "epochs": args.epochs, "train_args": train_args}
    pooled = []
    for i, fold in enumerate(folds):
        withheld = kinds_named(fold)
        model = args.out / f"fold{i}.pt"
        if not model.is_file():  # a rerun scores the folds already trained
            print(f"fold {i + 1}/{len(folds)}: training without {fold} ({len(withheld)} kinds)", flush=True)
            train_scorer(["--csv", str(args.csv), "-o", str(model), "--jobs", "1", "--steps", str(args.steps),
                          "--epochs", str(args.epochs), "--holdout-kinds", fold, *train_args])  # fmt: skip
        scores = score_reactions(table["text"].tolist(), model=model).drop(columns=["input"])
        scored = pd.concat([table, scores], axis=1)
        out_kinds = scored["kind"].isin(withheld)
        pooled.append(scored[out_kinds])
        result["folds"][fold] = {"withheld": summary(scored[out_kinds]), "seen": summary(scored[~out_kinds]),
                                 "per_kind": {k: {"n": int((g["family"] == "real").sum()), **_real_median(g)}
                                              for k, g in scored[out_kinds].groupby("kind")}}  # fmt: skip
        print(json.dumps({fold: result["folds"][fold]}, indent=2), flush=True)
    result["pooled_withheld"] = summary(pd.concat(pooled))  # every step scored by the model that never saw its kind
    (args.out / "holdout.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result["pooled_withheld"], indent=2))


def _real_median(group: pd.DataFrame) -> dict:
    real = group[group["family"] == "real"]
    return {"median_score": float(real["score"].median())}


if __name__ == "__main__":
    main()
