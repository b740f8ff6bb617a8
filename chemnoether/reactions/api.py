"""``score_reactions``: plausibility of reaction SMILES, one row per input, never a crashed batch.

Per input row (columns ``COLUMNS``, rows in input order):

* ``score``: the combined probability (``ReactionScorer.combined_probability``): 0 when the oracle
  fails a hard check, else the calibrated probability that the reaction is real rather than a
  decoy given the learned score and the net charge change. Higher = more plausible.
* ``learned_score``: the learned score alone, Platt-calibrated (NaN when a molecule does not
  sanitise: the learned model cannot read it, and the oracle already scores it 0).
* ``oracle_ok``, ``oracle_score``, ``oracle_reasons`` (';'-joined reason codes): ``oracle_checks``
  on the balanced reaction (atom maps, if any, are used by the oracle only).
* ``byproducts``: the by-products of the balanced reaction, '.'-joined: those written beside the
  main product and those inferred to close the atom balance; ``spectators``: molecules written on
  both sides, set aside; ``unbalanced``: what no by-product closes ('' when balanced), e.g.
  ``reactants keep C7H7O3S; products need H2``.

The learned score sees the map-free reactants taking part (spectators and reagents left out) and
the main product (``balance.balance_reaction``), or, for a step written with hydrogens as atoms,
every product and inferred by-product (``reaction_g.rated_molecules``): writing the by-products,
or a partner or counter-ion on both sides, does not change it. A null reaction (nothing changes)
has no learned score and scores 0.
* ``ok``: the row was scored; otherwise ``error_type`` and ``error`` say why: a parse error (not a
  string, no ``>>``, an empty side, unreadable SMILES, dummy atoms, atom maps pointing nowhere or
  used twice) or an element outside the featurizer's vocabulary (the oracle columns are still
  filled in then).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from functools import lru_cache
from importlib import resources
from pathlib import Path

import pandas as pd
import torch
from tqdm.auto import tqdm

from chemnoether.errors import ChemNoetherError, ConfigError
from chemnoether.reactions.reaction_g import MoleculeTable, canonical_smiles, rated_molecules
from chemnoether.reactions.oracle import oracle_checks
from chemnoether.reactions.parse import ReactionParseError, parse_reaction, shown, smiles_of
from chemnoether.reactions.scorer import ReactionScorer, load_scorer

COLUMNS = ("input", "ok", "score", "learned_score", "oracle_ok", "oracle_score", "oracle_reasons", "byproducts",
           "spectators", "unbalanced", "error_type", "error")  # fmt: skip
DEFAULT_MODEL = "reaction_scorer.pt"


def default_model_path() -> Path:
    """Where the shipped scorer checkpoint lies (``chemnoether/resources/reaction_scorer.pt``)."""
    return Path(str(resources.files("chemnoether.resources").joinpath(DEFAULT_MODEL)))


@lru_cache(maxsize=1)
def _shipped_scorer() -> ReactionScorer:
    return load_scorer(default_model_path())


def resolve_model(model: ReactionScorer | str | os.PathLike | None) -> ReactionScorer:
    """The shipped scorer (``None``), a checkpoint path, or a ``ReactionScorer`` as it is."""
    if model is None:
        return _shipped_scorer()
    if isinstance(model, ReactionScorer):
        return model
    if isinstance(model, str | os.PathLike):
        return load_scorer(model)
    raise ConfigError(f"model must be None, a checkpoint path or a ReactionScorer, got {type(model).__name__}")


def score_reactions(
    reactions: Iterable[str] | pd.Series | str,
    model: ReactionScorer | str | os.PathLike | None = None,
    *,
    progress: bool = False,
    batch_size: int = 256,
) -> pd.DataFrame:
    """Score reaction SMILES (``reactants>>products`` or ``reactants>reagents>products``).

    ``model``: None for the shipped checkpoint, a checkpoint path, or a ``ReactionScorer``.
    Returns one row per input, in input order, with ``COLUMNS`` (see the module docstring)."""
    if isinstance(reactions, str):
        reactions = [reactions]
    items = list(reactions)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"batch_size must be a positive integer, got {batch_size!r}")
    scorer = resolve_model(model)
    rows = []
    with tqdm(total=len(items), desc="score-reactions", unit="reaction", disable=not progress) as bar:
        for start in range(0, len(items), batch_size):
            chunk = items[start : start + batch_size]
            rows.extend(_score_chunk(chunk, scorer))
            bar.update(len(chunk))
    return pd.DataFrame(rows, columns=list(COLUMNS))


def _row(item, **values) -> dict:
    row = dict.fromkeys(COLUMNS)
    row.update(input=item if isinstance(item, str) else (None if _missing(item) else repr(item)), ok=False,
               score=math.nan, learned_score=math.nan, oracle_score=math.nan)  # fmt: skip
    row.update(values)
    return row


def _missing(item) -> bool:
    return item is None or (isinstance(item, float) and math.isnan(item)) or item is pd.NA


def _score_chunk(items: list, scorer: ReactionScorer) -> list[dict]:
    rows, todo = [], []  # todo: (row index, reactant SMILES, product SMILES)
    for item in items:
        if _missing(item):
            rows.append(_row(item, error_type="ReactionParseError", error="reaction SMILES is missing (an empty cell)"))
            continue
        try:
            reaction = parse_reaction(item)
        except ReactionParseError as err:
            rows.append(_row(item, error_type=type(err).__name__, error=str(err)))
            continue
        except Exception as err:  # noqa: BLE001 - a row the parser did not foresee fails alone
            rows.append(_row(item, error_type=type(err).__name__, error=f"reaction {shown(item)}: unexpected error: {err}"))
            continue
        try:
            verdict = oracle_checks(reaction)
            balance = balance_columns(reaction, verdict.balance)
        except Exception as err:  # noqa: BLE001 - likewise: never the whole batch
            rows.append(_row(item, error_type=type(err).__name__, error=f"reaction {shown(item)}: oracle failed: {err}"))
            continue
        row = _row(item, ok=True, oracle_ok=verdict.ok, oracle_score=verdict.score, oracle_reasons=";".join(verdict.codes),
                   **balance)  # fmt: skip
        rows.append(row)
        if verdict.balance.null:
            row["score"] = 0.0  # nothing to rate: the oracle says why (no_bond_change)
            continue
        try:
            todo.append((len(rows) - 1, *_canonical_sides(reaction, verdict.balance)))
        except ChemNoetherError as err:
            if verdict.ok:  # sanitises for the oracle but not through a SMILES round trip: rare
                row.update(ok=False, error_type=type(err).__name__, error=f"reaction {shown(item)}: {err}")
            else:
                row["score"] = 0.0  # does not sanitise: the oracle's sanitisation check already says no
    table = MoleculeTable()
    table.add(dict.fromkeys(s for _, reactants, products in todo for s, _ in reactants + products))
    scored = []
    for i, reactants, products in todo:
        problem = next(((s, label) for s, label in reactants + products if s not in table.ids), None)
        if problem is None:
            scored.append((i, [table.ids[s] for s, _ in reactants], [table.ids[s] for s, _ in products]))
            continue
        kind, message = table.errors[problem[0]]
        message = message.split("; pass unknown_elements")[0]  # that option is the featurizer's, not ours
        rows[i].update(ok=False, score=math.nan, error_type=kind,
                       error=f"reaction {shown(rows[i]['input'])}, {problem[1]}: {message}; the learned scorer cannot rate it")  # fmt: skip
    if scored:
        with torch.no_grad():
            logits = scorer.reaction_logits(table, [t[1] for t in scored], [t[2] for t in scored]).double().numpy()
        learned = scorer.learned_probability(logits)
        combined = scorer.combined_probability(logits, [rows[t[0]]["oracle_score"] for t in scored])
        for (i, _, _), p, q in zip(scored, learned, combined, strict=True):
            rows[i]["learned_score"], rows[i]["score"] = float(p), float(q)
    return rows


def balance_columns(reaction, balance) -> dict:
    """The ``byproducts``, ``spectators`` and ``unbalanced`` cells of a balanced reaction."""
    written = [smiles_of(reaction.product_mols[i]) for i in balance.written_byproducts]
    return {"byproducts": ".".join(written + list(balance.inferred)), "spectators": ".".join(balance.spectators),
            "unbalanced": balance.unbalanced_text()}  # fmt: skip


def _canonical_sides(reaction, balance) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(canonical SMILES, label such as 'reactant 2') of what the learned score compares (``rated_molecules``)."""
    sides = []
    for side in rated_molecules(reaction, balance):
        out = []
        for mol, label in side:
            try:
                out.append((canonical_smiles(mol), label))
            except ChemNoetherError as err:
                raise type(err)(f"{label}: {err}") from None
        sides.append(out)
    return sides[0], sides[1]


__all__ = ["COLUMNS", "default_model_path", "resolve_model", "score_reactions"]
