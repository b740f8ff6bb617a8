"""Train the reaction scorer contrastively: real USPTO reactions conserve g, their decoys do not.

Data and partition (fixed; the benchmark ``benchmarks/reactions.py`` uses the same functions):

1. Every row of the atom-mapped CSV is parsed; its *reaction key* is the canonical, map-free,
   stereo-free SMILES of the reactant molecules (sorted) ``>>`` that of the products. Rows whose
   key was seen before are dropped (de-duplication keeps the first row), as are rows that do not
   parse or whose molecules do not sanitise (``partition`` counts them).
2. Each reaction goes to a bucket ``sha256("chemnoether-uspto-split/1:" + product key) mod 100``,
   the product key being the canonical products alone: buckets 0-19 are **test** (20%), 20-29
   **val** (10%: model selection and calibration), 30-99 **fit** (70%: gradient steps). The same
   product therefore never sits on two sides of the split.
3. Decoys: ``generate_decoys(reaction, seed, pool, n=5)`` per reaction, the seed taken from the
   reaction key (row order does not matter), the ``ReactionPool`` for D3/D4 built from the fit
   and val reactions only (test products and test templates never reach training). Every example
   (the real reaction and each decoy) is scored map-free: reactants with the real or decoy product.

Training: AdamW with a one-cycle learning rate on mini-batches of reactions (seeded: the same
command gives the same checkpoint); each reaction brings its real product and all its
decoys that sanitise. Loss = weighted binary cross-entropy (per reaction the real product weighs 1
and its decoys 1 together, each family present an equal share) + ``rank_weight`` times the
listwise cross-entropy of the real product among its decoys. The epoch with the best mean
validation AUROC over D0-D4 is kept, then calibrated on val (``ReactionScorer.fit_calibration``).
With ``--refused-decoys false`` the gradient steps see only the decoys that the oracle passes
(``passed_decoys``): the learned part learns what conservation cannot check (which bonds changed,
where), not charge or hydrogen bookkeeping; model choice and calibration still see every decoy.
``--holdout-kinds`` withholds step kinds from training (``benchmarks/reaction_holdout.py``).

Why a loop of its own rather than ``chemnoether.train.fit``: ``fit`` steps a dynamics model over
windows of MD with a per-batch loss; here a batch is a set of reactions, each with its real
product and every decoy, the loss is listwise over those candidates, model selection is an AUROC
over decoy families on the whole validation split, and calibration follows training. A one-off
training of a few minutes that ships as a file, it needs none of ``fit``'s resume or sharding.

Run (the shipped checkpoint; a few minutes on one CPU thread once the decoy cache exists):

    .venv/bin/python -m chemnoether.reactions.train_scorer \\
        --csv ../shared/data/reactions/uspto50k_valid.csv -o chemnoether/resources/reaction_scorer.pt
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy.stats import rankdata
from tqdm.auto import tqdm

from chemnoether._atomic import atomic_write
from chemnoether.errors import ChemNoetherError
from chemnoether.reactions.decoys import FAMILIES, generate_decoys
from chemnoether.reactions.reaction_g import MoleculeTable, reaction_sides
from chemnoether.reactions.examples import labelled_example
from chemnoether.reactions.parse import ReactionParseError, parse_reaction
from chemnoether.reactions.scorer import ReactionScorer, save_scorer
from chemnoether.reactions.step_data import kinds_named, step_examples, step_table, uspto_substrates, without_kinds
from chemnoether.reactions.templates import ReactionPool

SPLIT_SALT = "chemnoether-uspto-split/1:"
TEST_BUCKETS = range(20)
VAL_BUCKETS = range(20, 30)
COLUMN = "reactants>reagents>production"
DECOYS_PER_FAMILY = 5
CACHE_VERSION = "3"  # 3: a step written with H atoms rates every product (reaction_g.rated_molecules)


def _hash_int(text: str) -> int:
    return int(hashlib.sha256(text.encode()).hexdigest()[:15], 16)


def split_of(product_key: str) -> str:
    """'test', 'val' or 'fit' for a canonical product key (see the module docstring)."""
    bucket = _hash_int(SPLIT_SALT + product_key) % 100
    return "test" if bucket in TEST_BUCKETS else "val" if bucket in VAL_BUCKETS else "fit"


def partition(texts: list[str]) -> tuple[pd.DataFrame, dict]:
    """The de-duplicated, usable reactions of ``texts`` with their split, and what was dropped.

    Columns: ``row`` (position in ``texts``), ``text``, ``key``, ``reactants`` (canonical SMILES,
    '.'-joined, sorted), ``product`` (likewise), ``split``."""
    rows, seen, dropped = [], set(), {"duplicate": 0, "unparsable": 0, "unsanitisable": 0}
    for i, text in enumerate(texts):
        try:
            reactants, products = reaction_sides(parse_reaction(text))
        except ReactionParseError:
            dropped["unparsable"] += 1
            continue
        except ChemNoetherError:
            dropped["unsanitisable"] += 1
            continue
        r, p = ".".join(sorted(reactants)), ".".join(sorted(products))
        key = f"{r}>>{p}"
        if key in seen:
            dropped["duplicate"] += 1
            continue
        seen.add(key)
        rows.append({"row": i, "text": text, "key": key, "reactants": r, "product": p, "split": split_of(p)})
    table = pd.DataFrame(rows)
    info = {"rows": len(texts), "kept": len(table), "dropped": dropped,
            "splits": table["split"].value_counts().to_dict(), "salt": SPLIT_SALT,
            "test_buckets": [TEST_BUCKETS.start, TEST_BUCKETS.stop], "val_buckets": [VAL_BUCKETS.start, VAL_BUCKETS.stop]}  # fmt: skip
    return table, info


_POOL = None  # set before worker processes fork, so they share it


def _examples_of(args: tuple[str, str, int]) -> list[dict]:
    """The real reaction and its decoys, map-free, each with its oracle verdict."""
    key, text, n = args
    reaction = parse_reaction(text)
    unmapped = reaction.without_maps()
    seed = _hash_int(key) % 2**31
    items = [("real", unmapped.text.split(">")[2], unmapped)]
    items += [(d.family, d.smiles, d.reaction) for d in generate_decoys(reaction, seed, _POOL, n=n)]
    return [labelled_example(key, family, smiles, rxn) for family, smiles, rxn in items]


def build_examples(reactions: pd.DataFrame, n: int = DECOYS_PER_FAMILY, jobs: int = 1, cache_dir: Path | None = None,
                   progress: bool = True) -> pd.DataFrame:  # fmt: skip
    """Real and decoy examples of every reaction of ``partition``'s table (cached as CSV if asked).

    The pool of D3/D4 is the fit and val reactions. Columns: key, family ('real' or D0-D4),
    smiles, product (canonical; empty when it does not sanitise), oracle_ok, oracle_score,
    oracle_codes."""
    global _POOL
    digest = hashlib.sha256("\n".join([CACHE_VERSION, str(n), *reactions["text"], *reactions["split"]]).encode())
    cache = Path(cache_dir) / f"reaction_examples_{digest.hexdigest()[:16]}.csv.gz" if cache_dir else None
    if cache is not None and cache.is_file():
        return pd.read_csv(cache, keep_default_na=False, dtype={"product": str, "oracle_codes": str})

    train = reactions[reactions["split"] != "test"]
    _POOL = ReactionPool([parse_reaction(t) for t in train["text"]])
    _POOL.templates  # noqa: B018 - extract once, before the workers fork
    work = [(k, t, n) for k, t in zip(reactions["key"], reactions["text"], strict=True)]

    bar = tqdm(total=len(work), desc="decoys", unit="reaction", disable=not progress)
    rows = []
    if jobs > 1:
        with multiprocessing.get_context("fork").Pool(jobs) as workers:
            for chunk in workers.imap(_examples_of, work, chunksize=16):
                rows.extend(chunk)
                bar.update()
    else:
        for w in work:
            rows.extend(_examples_of(w))
            bar.update()
    bar.close()
    table = pd.DataFrame(rows)
    table["product"] = table["product"].fillna("")
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)

        atomic_write(cache, lambda tmp: table.to_csv(tmp, index=False, compression="gzip"))
    return table


@dataclass
class ExampleSet:
    """Examples as molecule ids of a ``MoleculeTable``: ``reactants[i]`` (ids of reaction i) and,
    per example j, its reaction ``reaction[j]``, product ids ``products[j]``, ``family[j]``, and
    ``index[j]`` (its row label in the examples table)."""

    keys: list[str]
    reactants: list[list[int]]
    reaction: np.ndarray
    products: list[list[int]]
    family: np.ndarray
    oracle_score: np.ndarray
    index: np.ndarray

    @property
    def label(self) -> np.ndarray:
        return (self.family == "real").astype(np.float64)

    def weights(self) -> np.ndarray:
        """Real examples weigh 1; the decoys of a reaction 1 together, families equally."""
        w = np.ones(len(self.family))
        decoy = self.family != "real"
        groups = pd.DataFrame({"r": self.reaction[decoy], "f": self.family[decoy]})
        per_family = groups.groupby(["r", "f"])["f"].transform("size").to_numpy()
        families = groups.groupby("r")["f"].transform("nunique").to_numpy()
        w[decoy] = 1.0 / (per_family * families)
        return w


def example_set(reactions: pd.DataFrame, examples: pd.DataFrame, table: MoleculeTable) -> ExampleSet:
    """The examples of ``reactions`` that the learned score can rate (both sides featurise)."""
    rows = examples[examples["key"].isin(set(reactions["key"])) & (examples["product"] != "")]
    table.add(dict.fromkeys(s for text in (*reactions["reactants"], *rows["product"]) for s in text.split(".")))
    reactant_ids = {}
    for key, smiles in zip(reactions["key"], reactions["reactants"], strict=True):
        if all(s in table.ids for s in smiles.split(".")):
            reactant_ids[key] = [table.ids[s] for s in smiles.split(".")]
    keys = list(reactant_ids)
    index = {k: i for i, k in enumerate(keys)}
    rows = rows[rows["key"].isin(index)]
    good = np.array([all(s in table.ids for s in p.split(".")) for p in rows["product"]], dtype=bool)
    rows = rows[good]
    product_ids = [[table.ids[s] for s in p.split(".")] for p in rows["product"]]
    return ExampleSet(
        keys=keys,
        reactants=[reactant_ids[k] for k in keys],
        reaction=rows["key"].map(index).to_numpy(),
        products=product_ids,
        family=rows["family"].to_numpy().astype(str),
        oracle_score=rows["oracle_score"].to_numpy(dtype=np.float64),
        index=rows.index.to_numpy(),
    )


def predict(scorer: ReactionScorer, table: MoleculeTable, data: ExampleSet, batch_size: int = 1024) -> np.ndarray:
    """Logits of every example of ``data``."""
    out = []
    with torch.no_grad():
        for s in range(0, len(data.family), batch_size):
            sl = slice(s, s + batch_size)
            reactants = [data.reactants[r] for r in data.reaction[sl]]
            out.append(scorer.reaction_logits(table, reactants, data.products[sl]).numpy())
    return np.concatenate(out) if out else np.zeros(0)


def auroc(positive: np.ndarray, negative: np.ndarray) -> float:
    """Area under the ROC curve (ties count one half), by the Mann-Whitney statistic."""
    if len(positive) == 0 or len(negative) == 0:
        return float("nan")
    ranks = rankdata(np.concatenate([positive, negative]))
    return float((ranks[: len(positive)].sum() - len(positive) * (len(positive) + 1) / 2) / (len(positive) * len(negative)))


def family_auroc(scores: np.ndarray, family: np.ndarray) -> dict[str, float]:
    """AUROC of every real example against each decoy family present (D0-D4 always listed)."""
    real = scores[family == "real"]
    present = [f for f in dict.fromkeys(family) if f != "real" and f not in FAMILIES]
    return {f: auroc(real, scores[family == f]) for f in (*FAMILIES, *sorted(present))}


@dataclass
class TrainConfig:
    """Hyperparameters of ``train``; the defaults made the shipped checkpoint."""

    k: int = 32
    hidden: int = 64
    layers: int = 3
    head: str = "mlp"
    head_hidden: int = 64
    abs_features: bool = False
    epochs: int = 8
    batch_size: int = 32
    lr: float = 2e-3
    weight_decay: float = 1e-5
    rank_weight: float = 0.5
    steps: int = 0  # fit substrates of the elementary-step data set (step_data.py) trained on too
    holdout_kinds: str = ""  # step kinds or groups withheld from training (step_data.kinds_named)
    refused_decoys: bool = True  # false: the learned score trains only on decoys the oracle passes
    seed: int = 0
    log_every: int = 20


def train(table: MoleculeTable, fit: ExampleSet, val: ExampleSet, config: TrainConfig, log=print) -> tuple[ReactionScorer, dict]:
    """Train a ``ReactionScorer`` on ``fit``, keep the best epoch on ``val``, calibrate on ``val``."""
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    scorer = ReactionScorer({"k": config.k, "hidden": config.hidden, "layers": config.layers},
                            head=config.head, head_hidden=config.head_hidden, abs_features=config.abs_features)  # fmt: skip
    optimizer = torch.optim.AdamW(scorer.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    steps_per_epoch = -(-len(fit.reactants) // config.batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, config.lr, total_steps=config.epochs * steps_per_epoch, pct_start=0.1)
    by_reaction = pd.Series(np.arange(len(fit.reaction))).groupby(fit.reaction).apply(list).to_dict()
    weights = fit.weights()
    history, best, best_state, start, step = [], -1.0, None, time.perf_counter(), 0
    for epoch in range(config.epochs):
        scorer.train()
        order, losses = rng.permutation(len(fit.reactants)), []
        for s in range(0, len(order), config.batch_size):
            ex = np.concatenate([by_reaction[r] for r in order[s : s + config.batch_size] if r in by_reaction])
            loss, bce = batch_loss(scorer, table, fit, ex, weights, config.rank_weight)
            losses.append(loss.item())
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(scorer.parameters(), 5.0)
            optimizer.step()
            schedule.step()
            step += 1
            if step % config.log_every == 0:
                log(f"epoch {epoch + 1} step {step}/{config.epochs * steps_per_epoch}: loss {loss.item():.4f} "
                    f"(bce {bce.item():.4f}) {time.perf_counter() - start:.0f} s")  # fmt: skip
        scorer.eval()
        aucs = family_auroc(predict(scorer, table, val), val.family)
        mean = float(np.nanmean(list(aucs.values())))
        history.append({"epoch": epoch + 1, "train_loss": float(np.mean(losses)), "val_auroc": aucs, "val_mean_auroc": mean, "seconds": time.perf_counter() - start})
        log(f"epoch {epoch + 1}: val AUROC " + " ".join(f"{f} {a:.4f}" for f, a in aucs.items()) + f" mean {mean:.4f}")
        if best_state is None or mean > best:
            best, best_state = mean, {k: v.detach().clone() for k, v in scorer.state_dict().items()}
    scorer.load_state_dict(best_state)
    scorer.eval()
    logits = predict(scorer, table, val)
    calibration = scorer.fit_calibration(logits, val.label, val.weights(), val.oracle_score)
    log(f"calibration on val: {calibration}")
    return scorer, {"history": history, "best_val_mean_auroc": best, "calibration": calibration}


def batch_loss(scorer: ReactionScorer, table: MoleculeTable, data: ExampleSet, ex: np.ndarray, weights: np.ndarray,
               rank_weight: float) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """(loss, its BCE part) of the examples ``ex`` of ``data`` (all candidates of some reactions)."""
    logits = scorer.reaction_logits(table, [data.reactants[r] for r in data.reaction[ex]], [data.products[j] for j in ex])
    labels = data.label[ex]
    y, w = torch.from_numpy(labels).float(), torch.from_numpy(weights[ex]).float()
    bce = (w * torch.nn.functional.binary_cross_entropy_with_logits(logits, y, reduction="none")).sum() / w.sum()
    return bce + rank_weight * _listwise(logits, data.reaction[ex], labels), bce


def _listwise(logits: torch.Tensor, reaction: np.ndarray, label: np.ndarray) -> torch.Tensor:
    """Mean over reactions of -log softmax(real product among the reaction's candidates)."""
    group = torch.from_numpy(np.unique(reaction, return_inverse=True)[1].reshape(-1))
    n = int(group.max()) + 1
    peak = torch.zeros(n).scatter_reduce(0, group, logits.detach(), "amax", include_self=False)
    denominator = torch.zeros(n).index_add_(0, group, (logits - peak[group]).exp()).log() + peak
    real = torch.from_numpy(label > 0)
    return (denominator[group[real]] - logits[real]).mean()


def load_data(csv: Path, cache_dir: Path | None, jobs: int = 1, n: int = DECOYS_PER_FAMILY, log=print):
    """(partition table, its info, examples table) of ``csv`` (column ``COLUMN``)."""
    texts = pd.read_csv(csv)[COLUMN].tolist()
    reactions, info = partition(texts)
    log(f"{info['rows']} rows, {info['kept']} kept after de-duplication, dropped {info['dropped']}; splits {info['splits']}")
    start = time.perf_counter()
    examples = build_examples(reactions, n=n, jobs=jobs, cache_dir=cache_dir)
    log(f"{len(examples)} examples ({(examples['family'] != 'real').sum()} decoys) in {time.perf_counter() - start:.0f} s")
    return reactions, info, examples


def add_steps(reactions: pd.DataFrame, examples: pd.DataFrame, limit: int, withhold: tuple[str, ...] = (), log=print):
    """``reactions`` and ``examples`` with the elementary steps of ``limit`` fit substrates (and a
    seventh as many val substrates) and their decoys appended, the steps of kinds ``withhold``
    left out; and what was added."""
    start = time.perf_counter()
    substrates = uspto_substrates(reactions["text"].tolist())
    steps = pd.concat([step_table(substrates, "fit", limit), step_table(substrates, "val", max(limit // 7, 1))])
    steps = without_kinds(steps, withhold)
    step_reactions, step_rows = step_examples(steps)
    step_rows.index = step_rows.index + len(examples)  # keep example labels unique
    info = {"substrates": int(steps["substrate"].nunique()), "steps": len(step_reactions), "withheld_kinds": list(withhold),
            "by_split": step_reactions["split"].value_counts().to_dict(), "decoys": int((step_rows["family"] != "real").sum())}  # fmt: skip
    log(f"elementary steps: {info} in {time.perf_counter() - start:.0f} s")
    step_rows["product"] = step_rows["product"].fillna("")
    return pd.concat([reactions, step_reactions], ignore_index=True), pd.concat([examples, step_rows]), info


def passed_decoys(examples: pd.DataFrame) -> pd.DataFrame:
    """``examples`` without the decoys that the oracle refuses (a hard check failed): what the
    learned score trains on with ``refused_decoys=False``.

    The combined score is 0 for those whatever the learned score says, and its calibration is fitted
    on what the oracle passes; trained on them too, the learned score spends itself on what
    conservation already checks (a charge or hydrogen count that does not add up) and learns to
    distrust any unusual charge pattern, e.g. of a step kind it never saw."""
    return examples[(examples["family"] == "real") | (examples["oracle_score"].astype(float) > 0)]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--csv", type=Path, default=Path("../shared/data/reactions/uspto50k_valid.csv"))
    parser.add_argument("-o", "--output", type=Path, default=Path("chemnoether/resources/reaction_scorer.pt"))
    parser.add_argument("--cache", type=Path, default=Path("out/reaction_cache"), help="decoy cache folder")
    parser.add_argument("--jobs", type=int, default=2, help="processes for decoy generation")
    parser.add_argument("--threads", type=int, default=1, help="torch threads for training")
    for name, value in vars(TrainConfig()).items():
        kind = _boolean if isinstance(value, bool) else type(value)
        parser.add_argument(f"--{name.replace('_', '-')}", type=kind, default=value, metavar=type(value).__name__.upper())
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    config = TrainConfig(**{k: getattr(args, k) for k in vars(TrainConfig())})
    reactions, info, examples = load_data(args.csv, args.cache, args.jobs)
    if config.steps:
        reactions, examples, info["steps"] = add_steps(reactions, examples, config.steps, kinds_named(config.holdout_kinds))
    table = MoleculeTable()
    start = time.perf_counter()
    # only the gradient steps leave refused decoys out: model choice and calibration see every decoy,
    # so the calibrated scores keep their meaning (a 1:1 prior over all decoy families)
    fit = example_set(reactions[reactions["split"] == "fit"], examples if config.refused_decoys else passed_decoys(examples), table)
    val = example_set(reactions[reactions["split"] == "val"], examples, table)
    print(f"featurised {len(table)} molecules in {time.perf_counter() - start:.0f} s; "
          f"fit {len(fit.reactants)} reactions / {len(fit.family)} examples, val {len(val.reactants)} / {len(val.family)}")  # fmt: skip
    scorer, report = train(table, fit, val, config)
    training = {"config": vars(config), "partition": info, "csv": str(args.csv), **report}
    path = save_scorer(args.output, scorer, json.loads(json.dumps(training)))
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")


def _boolean(text: str) -> bool:
    if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
        raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")
    return text.lower() in ("true", "1", "yes")


if __name__ == "__main__":
    main()
