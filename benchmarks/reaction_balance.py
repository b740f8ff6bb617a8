"""Reactions as chemists write them, on held-out USPTO-50k: balanced equations, null reactions, by-products.

The test part of the fixed partition of ``train_scorer`` (bucket 0-19 of the product hash; no
training or tuning step saw it). For every test reaction (map-free):

* ``main``: the record as USPTO writes it, main product only;
* ``balanced_list``: the main product plus the by-products that ``balance_reaction`` infers to
  close the balance (only for reactions it closes; how many is reported);
* ``balanced_map``: the main product plus the *leaving groups read from the atom map*: the
  reactant atoms that no product atom maps to, cut out, each fragment capped with hydrogens
  (sanitised); independent of the by-product list, so it also writes by-products the list lacks
  (pinacol boranes, Boc fragments...). Reactions whose fragments do not sanitise are counted apart.

Decoy families beside D0-D4 (``benchmarks/reactions.py``), each scored against the real versions:

* ``N_same``: every reactant written again as the product (``R>>R``; balanced, nothing changes);
* ``N_one``: the largest reactant written as the product (``A.B>>A``; unbalanced null);
* ``B_extra``: ``balanced_map`` plus one more by-product from the list that the reactants cannot
  supply (a by-product added wrongly);
* ``B_only``: the map's leaving groups alone, the main product removed.

Metrics: median score of each real version and the median ratio balanced / main per reaction,
the fraction within 10%; AUROC of ``score`` (and of ``learned_score`` where it exists) per family,
every figure with the number of cases it is taken over.

Run: ``.venv/bin/python benchmarks/reaction_balance.py [--model CKPT] [--out out/bench_balance]``
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
from rdkit import Chem, rdBase
from sklearn.metrics import roc_auc_score

import chemnoether  # noqa: F401 - before anything that imports dgl
from chemnoether.reactions import parse_reaction
from chemnoether.reactions.api import score_reactions
from chemnoether.reactions.balance import BYPRODUCTS, balance_reaction
from chemnoether.reactions.train_scorer import COLUMN, partition

DEFAULT_CSV = Path(__file__).resolve().parents[2] / "shared" / "data" / "reactions" / "uspto50k_valid.csv"


def leaving_groups(text: str) -> list[str] | None:
    """Canonical SMILES of the reactant fragments no product atom maps to, hydrogen-capped."""
    reactants, _, products = text.split(">")
    kept = {a.GetAtomMapNum() for a in Chem.MolFromSmiles(products).GetAtoms() if a.GetAtomMapNum()}
    mol = Chem.RWMol(Chem.MolFromSmiles(reactants))
    Chem.Kekulize(mol, clearAromaticFlags=True)
    for i in sorted((a.GetIdx() for a in mol.GetAtoms() if a.GetAtomMapNum() in kept), reverse=True):
        mol.RemoveAtom(i)
    for atom in mol.GetAtoms():
        atom.SetAtomMapNum(0)
        atom.SetNoImplicit(False)  # cut bonds become hydrogens
        atom.SetNumExplicitHs(0)
    out = mol.GetMol()
    with rdBase.BlockLogs():
        try:
            Chem.SanitizeMol(out)
        except Exception:  # noqa: BLE001 - a fragment RDKit cannot cap: counted apart
            return None
    return [s for s in Chem.MolToSmiles(out).split(".") if s]


def versions(text: str, rng: np.random.Generator) -> dict[str, str]:
    """The real versions and the decoys (see the module docstring) of one mapped reaction."""
    reaction = parse_reaction(text).without_maps()
    left, products = reaction.text.split(">")[0], reaction.text.split(">")[2]
    out = {"main": reaction.text}
    balance = balance_reaction(reaction)
    if balance.inferred and balance.closed:
        out["balanced_list"] = f"{left}>>{products}." + ".".join(balance.inferred)
    groups = leaving_groups(text)
    if groups:
        out["balanced_map"] = f"{left}>>{products}." + ".".join(groups)
        out["B_only"] = f"{left}>>" + ".".join(groups)
        for extra in rng.permutation(list(BYPRODUCTS)):
            candidate = out["balanced_map"] + "." + extra
            if not _fits(candidate):
                out["B_extra"] = candidate
                break
    mols = left.split(".")
    out["N_same"] = f"{left}>>" + ".".join(reversed(mols))
    out["N_one"] = f"{left}>>" + max(mols, key=lambda s: Chem.MolFromSmiles(s).GetNumHeavyAtoms())
    return out


def _fits(text: str) -> bool:
    """The products' atoms (hydrogen included) come from the reactants."""
    return not balance_reaction(parse_reaction(text)).missing


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--csv", type=Path, default=DEFAULT_CSV)
    parser.add_argument("--model", type=Path, default=None, help="scorer checkpoint (default: the shipped one)")
    parser.add_argument("--out", type=Path, default=Path("out/bench_balance"))
    args = parser.parse_args()
    reactions, info = partition(pd.read_csv(args.csv)[COLUMN].tolist())
    test = reactions[reactions["split"] == "test"]
    rng = np.random.default_rng(0)
    rows = [{"key": k, "version": v, "text": t} for k, text in zip(test["key"], test["text"], strict=True)
            for v, t in versions(text, rng).items()]  # fmt: skip
    table = pd.DataFrame(rows)
    start = time.perf_counter()
    scored = score_reactions(table["text"].tolist(), model=args.model, progress=True)
    print(f"scored {len(table)} reactions in {time.perf_counter() - start:.0f} s")
    table = pd.concat([table, scored.drop(columns=["input"])], axis=1)
    result = {"partition": info, "test_reactions": len(test), "model": str(args.model or "shipped"),
              "row_errors": table.loc[~table["ok"].astype(bool), "error_type"].value_counts().to_dict()}  # fmt: skip
    pivot = table.pivot(index="key", columns="version", values="score")
    learned = table.pivot(index="key", columns="version", values="learned_score")
    result["versions"] = {v: {"n": int(pivot[v].notna().sum()), "median_score": float(pivot[v].median())}
                          for v in ("main", "balanced_list", "balanced_map")}  # fmt: skip
    for v in ("balanced_list", "balanced_map"):
        both = pivot[["main", v]].dropna()
        ratio = both[v] / both["main"]
        result["versions"][v] |= {"median_ratio_to_main": float(ratio.median()), "within_10pct": float((abs(ratio - 1) <= 0.1).mean()),
                                  "n_pairs": len(both)}  # fmt: skip
    result["families"] = {}
    for real in ("main", "balanced_map"):
        for family in ("N_same", "N_one", "B_extra", "B_only"):
            result["families"][f"{real} vs {family}"] = _auroc(pivot[real], pivot[family]) | {
                "learned": _auroc(learned[real], learned[family])}
    reasons = table[table["version"].isin(["N_same", "N_one", "B_extra", "B_only"])]
    result["decoy_reasons"] = {v: g["oracle_reasons"].str.split(";").explode().str.split(":").str[0].value_counts().head(4).to_dict()
                               for v, g in reasons.groupby("version")}  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "reaction_balance.json").write_text(json.dumps(result, indent=2))
    table.to_csv(args.out / "reaction_balance_rows.csv.gz", index=False)
    print(json.dumps(result, indent=2))


def _auroc(real: pd.Series, decoy: pd.Series) -> dict:
    """AUROC of real against decoy values (NaN left out, and counted)."""
    r, d = real.dropna().to_numpy(), decoy.dropna().to_numpy()
    if len(r) == 0 or len(d) == 0:
        return {"auroc": None, "n_real": len(r), "n_decoys": len(d)}
    y = np.r_[np.ones(len(r)), np.zeros(len(d))]
    return {"auroc": float(roc_auc_score(y, np.r_[r, d])), "n_real": len(r), "n_decoys": len(d)}


if __name__ == "__main__":
    main()
