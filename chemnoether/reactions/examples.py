"""One labelled example of the scorer's training and test tables: a reaction (real or decoy) with
the oracle's verdict and the product side the learned score rates."""

from __future__ import annotations

from chemnoether.errors import ChemNoetherError
from chemnoether.reactions.reaction_g import canonical_smiles, rated_molecules
from chemnoether.reactions.oracle import oracle_checks


def labelled_example(key: str, family: str, smiles: str, rxn) -> dict:
    """One example: the oracle's verdict and the product side the learned score rates."""
    verdict = oracle_checks(rxn)
    try:
        product = ".".join(canonical_smiles(m) for m, _ in rated_molecules(rxn, verdict.balance)[1]) or None
    except ChemNoetherError:
        product = None  # does not sanitise (or a null reaction): the learned score cannot rate it
    return {"key": key, "family": family, "smiles": smiles, "product": product,
            "oracle_ok": verdict.ok, "oracle_score": verdict.score, "oracle_codes": ";".join(verdict.codes)}  # fmt: skip
