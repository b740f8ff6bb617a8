"""Reaction plausibility on held-out USPTO-50k reactions: oracle, fingerprint baseline, learned score.

Data: ``uspto50k_valid.csv`` (5,001 atom-mapped reactions), partitioned exactly as for training
(``chemnoether.reactions.train_scorer``): de-duplicated by canonical map-free, stereo-free
reaction; split by a hash of the canonical product into fit 70% / val 10% / test 20%; decoys of
families D0-D4 (5 asked per family and reaction) for every reaction, the D3/D4 pool built from fit
and val only. Every number below is on the **test** part, which no training or tuning step saw.

Rows (each a score of a map-free reaction, higher = more plausible):

* ``oracle``: ``oracle_checks(...).score`` alone (0 when a hard check fails, else 0.5 per soft warning:
  net charge change or unpaired electrons changed, across the balanced reaction).
* ``fp_lr``: logistic regression (scikit-learn) on a Morgan fingerprint of the reaction: the
  difference d of the radius-2 count fingerprints (2048 bits) of products and reactants, as
  sign(d) log1p|d| and as log1p|d| (how much changed, whatever the direction: the fingerprint
  analogue of |g(R) - g(P)|), next to the products' binary fingerprint; trained on fit with the
  same class weights as the learned scorer, C chosen on val from {0.1, 1, 10}. ``fp_lr+oracle``: 0 where the oracle
  fails a hard check, else the LR probability.
* ``learned``: the scorer's Platt-calibrated learned score alone; ``learned+oracle``: its
  combined score (what ``score_reactions`` returns as ``score``).

Decoys that do not sanitise (only D1 has them) cannot be read by a fingerprint or by the learned
model: the ``fp_lr`` and ``learned`` rows leave them out (``n_decoys`` says how many were scored);
the oracle rows score every decoy.

Metrics per decoy family: AUROC, AUPRC (average precision, real reactions positive) and the FPR at
95% TPR, real test reactions against the family's decoys; ``all`` pools the families. Top-k: per
test reaction, the rank of the real product among it and all its decoys, ties broken at random
(the expected top-k rate is reported; ``top1_D4`` ranks it among its D4 decoys only).
Calibration of the two learned probabilities: expected calibration error (10 bins) and Brier
score, real and decoy test examples weighted 1:1 and the families equally, as in training.

Run: ``.venv/bin/python benchmarks/reactions.py [--model CKPT] [--jobs 2] [--out out/bench_reactions]``
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd
import rdkit
import torch
from rdkit import Chem, DataStructs
from rdkit.Chem import rdFingerprintGenerator
from scipy import sparse
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve

import chemnoether  # noqa: F401 - before anything that imports dgl
from chemnoether.reactions import FAMILIES
from chemnoether.reactions.api import default_model_path
from chemnoether.reactions.reaction_g import MoleculeTable
from chemnoether.reactions.scorer import load_scorer
from chemnoether.reactions.train_scorer import (
    ExampleSet,
    example_set,
    load_data,
    predict,
)

DEFAULT_CSV = Path(__file__).resolve().parents[2] / "shared" / "data" / "reactions" / "uspto50k_valid.csv"
METHODS = ("oracle", "fp_lr", "fp_lr+oracle", "learned", "learned+oracle")
_FPGEN = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048)


def metrics(real: np.ndarray, decoy: np.ndarray) -> dict:
    y = np.r_[np.ones(len(real)), np.zeros(len(decoy))]
    s = np.r_[real, decoy]
    fpr, tpr, _ = roc_curve(y, s)
    return {"auroc": float(roc_auc_score(y, s)), "auprc": float(average_precision_score(y, s)),
            "fpr_at_95tpr": float(fpr[np.searchsorted(tpr, 0.95)]), "n_real": len(real), "n_decoys": len(decoy)}  # fmt: skip


def top_k(scores: np.ndarray, reaction: np.ndarray, family: np.ndarray, only: str | None = None) -> dict:
    """Expected top-k rates (random tie-breaking) and mean rank of the real product per reaction."""
    df = pd.DataFrame({"r": reaction, "s": scores, "real": family == "real", "keep": True if only is None else (family == only) | (family == "real")})
    df = df[df["keep"]]
    real = df[df["real"]].set_index("r")["s"]
    decoys = df[~df["real"]]
    decoys = decoys[decoys["r"].isin(real.index)]
    above = (decoys["s"].to_numpy() > real.loc[decoys["r"]].to_numpy())
    tied = (decoys["s"].to_numpy() == real.loc[decoys["r"]].to_numpy())
    g = pd.DataFrame({"r": decoys["r"].to_numpy(), "above": above, "tied": tied}).groupby("r").sum()
    g = g.reindex(real.index, fill_value=0)
    out = {"reactions": len(g), "mean_rank": float((1 + g["above"] + g["tied"] / 2).mean())}
    for k in (1, 3, 5):
        out[f"top{k}"] = float(np.clip((k - g["above"]) / (g["tied"] + 1), 0, 1).mean())
    return out


def calibration(p: np.ndarray, real: np.ndarray, w: np.ndarray, bins: int = 10) -> dict:
    """Weighted expected calibration error (10 equal-width bins) and Brier score."""
    edges = np.minimum((p * bins).astype(int), bins - 1)
    total, ece = w.sum(), 0.0
    for b in range(bins):
        m = edges == b
        if w[m].sum() > 0:
            ece += w[m].sum() / total * abs(np.average(p[m], weights=w[m]) - np.average(real[m], weights=w[m]))
    return {"ece": float(ece), "brier": float(np.average((p - real) ** 2, weights=w))}


def fingerprints(reactants: list[str], products: list[str]) -> sparse.csr_matrix:
    """Rows [sign(d) log1p|d|, log1p|d| of the count-fingerprint difference d = P - R, binary FP of P]."""
    cache: dict[str, np.ndarray] = {}

    def fp(smiles: str) -> np.ndarray:
        if smiles not in cache:
            total = np.zeros(2048)
            for part in smiles.split("."):
                arr = np.zeros(2048)
                DataStructs.ConvertToNumpyArray(_FPGEN.GetCountFingerprint(Chem.MolFromSmiles(part)), arr)
                total += arr
            cache[smiles] = total
        return cache[smiles]

    rows = []
    for r, p in zip(reactants, products, strict=True):
        d = fp(p) - fp(r)
        rows.append(sparse.csr_matrix(np.r_[np.sign(d) * np.log1p(np.abs(d)), np.log1p(np.abs(d)), fp(p) > 0]))
    return sparse.vstack(rows).tocsr()


def fp_baseline(reactions: pd.DataFrame, examples: pd.DataFrame, log) -> tuple[pd.Series, dict]:
    """FP-LR probabilities for every sanitisable example (index of ``examples``), C tuned on val."""
    usable = examples[examples["product"] != ""]
    reactants = usable["key"].map(reactions.set_index("key")["reactants"])
    split = usable["key"].map(reactions.set_index("key")["split"])
    start = time.perf_counter()
    x = fingerprints(reactants.tolist(), usable["product"].tolist())
    log(f"fingerprints of {x.shape[0]} examples in {time.perf_counter() - start:.0f} s")
    y = (usable["family"] == "real").to_numpy()
    w = _weights(usable)
    fit, val = (split == "fit").to_numpy(), (split == "val").to_numpy()
    best = None
    for c in (0.1, 1.0, 10.0):
        model = LogisticRegression(C=c, max_iter=3000).fit(x[fit], y[fit], sample_weight=w[fit])
        p = model.predict_proba(x[val])[:, 1]
        fam = usable["family"].to_numpy()[val]
        mean = np.mean([roc_auc_score(np.r_[np.ones((fam == "real").sum()), np.zeros((fam == f).sum())],
                                      np.r_[p[fam == "real"], p[fam == f]]) for f in FAMILIES])  # fmt: skip
        log(f"fp_lr C={c}: val mean AUROC {mean:.4f}")
        if best is None or mean > best[0]:
            best = (mean, c, model)
    return pd.Series(best[2].predict_proba(x)[:, 1], index=usable.index), {"C": best[1], "val_mean_auroc": best[0]}


def _weights(examples: pd.DataFrame) -> np.ndarray:
    family = examples["family"].to_numpy()
    decoy = family != "real"
    w = np.ones(len(examples))
    d = examples[decoy]
    per = d.groupby(["key", "family"])["family"].transform("size").to_numpy()
    fams = d.groupby("key")["family"].transform("nunique").to_numpy()
    w[decoy] = 1.0 / (per * fams)
    return w


def learned_scores(scorer, reactions: pd.DataFrame, examples: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """(learned, combined) scores of the test examples the model can read (index of ``examples``)."""
    table = MoleculeTable()
    test = reactions[reactions["split"] == "test"]
    data: ExampleSet = example_set(test, examples, table)
    logits = predict(scorer, table, data)
    usable = examples.loc[data.index]
    learned = pd.Series(scorer.learned_probability(logits), index=usable.index)
    combined = pd.Series(scorer.combined_probability(logits, usable["oracle_score"].to_numpy()), index=usable.index)
    return learned, combined


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--csv", type=Path, default=DEFAULT_CSV)
    parser.add_argument("--model", type=Path, default=None, help="scorer checkpoint (default: the shipped one)")
    parser.add_argument("--cache", type=Path, default=Path("out/reaction_cache"))
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("out/bench_reactions"), help="folder for JSON, markdown, PNG")
    args = parser.parse_args()
    torch.set_num_threads(1)
    log = print
    reactions, info, examples = load_data(args.csv, args.cache, args.jobs)
    model_path = args.model or default_model_path()
    scorer = load_scorer(model_path)
    trained_on = scorer.training_info.get("partition", {})
    if trained_on.get("salt") != info["salt"] or trained_on.get("splits") != info["splits"]:
        raise SystemExit(f"{model_path} was not trained on this partition ({trained_on}); retrain it")

    scores = pd.DataFrame(index=examples.index)
    scores["oracle"] = examples["oracle_score"].astype(float)
    fp, fp_info = fp_baseline(reactions, examples, log)
    scores["fp_lr"] = fp
    # the "+oracle" rows rate every example: 0 wherever the oracle fails a hard check
    oracle_ok = examples["oracle_ok"].astype(bool)
    scores["fp_lr+oracle"] = scores["fp_lr"].where(oracle_ok, 0.0)
    start = time.perf_counter()
    learned, combined = learned_scores(scorer, reactions, examples)
    log(f"learned scores of {len(learned)} test examples in {time.perf_counter() - start:.0f} s")
    scores["learned"], scores["learned+oracle"] = learned, combined
    scores["learned+oracle"] = scores["learned+oracle"].where(oracle_ok, 0.0)

    test_keys = set(reactions.loc[reactions["split"] == "test", "key"])
    test = examples["key"].isin(test_keys).to_numpy()
    family = examples["family"].to_numpy()
    reaction = examples["key"].astype("category").cat.codes.to_numpy()
    result = {"partition": info, "model": str(model_path), "model_training": scorer.training_info.get("config"),
              "fp_lr": fp_info, "methods": {}, "machine": {"platform": platform.platform(), "python": platform.python_version(),
              "rdkit": rdkit.__version__, "torch": torch.__version__}}  # fmt: skip
    curves = {}
    for method in METHODS:
        s = scores[method].to_numpy()
        have = test & ~np.isnan(s)
        real = s[have & (family == "real")]
        per = {f: metrics(real, s[have & (family == f)]) for f in FAMILIES}
        per["all"] = metrics(real, s[have & (family != "real")])
        ranks = top_k(s[have], reaction[have], family[have])
        ranks["top1_D4"] = top_k(s[have], reaction[have], family[have], only="D4")["top1"]
        result["methods"][method] = {"families": per, "ranking": ranks}
        if method.startswith("learned"):  # the probabilities' calibration, at the 1:1 family-balanced prior
            result["methods"][method]["calibration"] = calibration(s[have], family[have] == "real", _weights(examples[have]))
        curves[method] = {f: roc_curve(np.r_[np.ones(len(real)), np.zeros((have & (family == f)).sum())],
                                       np.r_[real, s[have & (family == f)]])[:2] for f in FAMILIES}  # fmt: skip

    args.out.mkdir(parents=True, exist_ok=True)
    markdown = _markdown(result)
    print(markdown)
    (args.out / "reactions.json").write_text(json.dumps(result, indent=2))
    (args.out / "reactions.md").write_text(markdown)
    _plot(curves, args.out / "reactions_roc.png")
    print(f"wrote {args.out}/reactions.json, reactions.md, reactions_roc.png")


def _markdown(result: dict) -> str:
    lines = ["| method | family | AUROC | AUPRC | FPR@95%TPR | decoys |", "|---|---|---|---|---|---|"]
    for method, r in result["methods"].items():
        for family, m in r["families"].items():
            lines.append(f"| {method} | {family} | {m['auroc']:.4f} | {m['auprc']:.4f} | {m['fpr_at_95tpr']:.4f} | {m['n_decoys']} |")
    lines += ["", "| method | top-1 | top-3 | top-5 | mean rank | top-1 among D4 | reactions |", "|---|---|---|---|---|---|---|"]
    for method, r in result["methods"].items():
        k = r["ranking"]
        lines.append(f"| {method} | {k['top1']:.4f} | {k['top3']:.4f} | {k['top5']:.4f} | {k['mean_rank']:.2f} | {k['top1_D4']:.4f} | {k['reactions']} |")
    for method, r in result["methods"].items():
        if "calibration" in r:
            c = r["calibration"]
            lines.append(f"\n{method}: expected calibration error {c['ece']:.4f}, Brier {c['brier']:.4f} "
                         "(test, real and decoys weighted 1:1, families equally)")  # fmt: skip
    return "\n".join(lines) + "\n"


def _plot(curves: dict, path: Path) -> None:
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    fig, axes = plt.subplots(1, len(FAMILIES), figsize=(4 * len(FAMILIES), 4), sharey=True)
    for ax, family in zip(axes, FAMILIES, strict=True):
        for method, per in curves.items():
            fpr, tpr = per[family]
            ax.plot(fpr, tpr, label=method)
        ax.plot([0, 1], [0, 1], color="grey", lw=0.5, ls=":")
        ax.set_title(f"{family} decoys (test)")
        ax.set_xlabel("false positive rate")
    axes[0].set_ylabel("true positive rate")
    axes[-1].legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
