"""The oracle: quantities chemistry conserves in every reaction, checked one by one.

Checks (each a function returning a ``CheckResult``):

* ``element_subset`` (hard): the product element multiset is a sub-multiset of the reactant (plus,
  by default, reagent) elements. Heavy atoms only: USPTO omits by-products, so hydrogen is not
  balanced; hydrogen (all isotopes) is counted only when *both* sides write every hydrogen as an
  atom (no implicit or bracket H counts anywhere).
* ``mapped_elements`` (hard): every mapped product atom has the element of the reactant atom with
  the same map number. Skipped (not failed) on unmapped reactions.
* ``formal_charge`` (soft): the total formal charge of the products differs from that of the
  reactant side. About 3% of real USPTO reactions change it (omitted counter-ions, salt forms), so
  it only lowers the score: by a factor ``CHARGE_PENALTY`` per unit of net charge change.
* ``sanitization`` (hard): every product and every reactant (and reagent) molecule passes RDKit
  sanitisation (valence, kekulisation, aromaticity).

``OracleVerdict.ok`` is true when every hard check passes; ``score`` is 0 when one fails, else
``CHARGE_PENALTY ** |charge change|`` (1 for a reaction that passes everything).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd
from rdkit import Chem

from chemnoether.reactions.parse import (
    Reaction,
    ReactionParseError,
    parse_reaction,
    smiles_of,
)

CHARGE_PENALTY = 0.5
CHECKS = ("element_subset", "mapped_elements", "formal_charge", "sanitization")
_PT = Chem.GetPeriodicTable()


@dataclass(frozen=True)
class Reason:
    """One violation: a short code (``element_not_conserved:Cl+1``), a message, its severity."""

    check: str
    code: str
    message: str
    severity: str = "error"  # "error" fails the verdict; "warning" only lowers the score


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check; ``skipped`` when it does not apply (e.g. no atom maps)."""

    check: str
    reasons: tuple[Reason, ...] = ()
    skipped: bool = False

    @property
    def passed(self) -> bool | None:
        return None if self.skipped else not self.reasons


@dataclass(frozen=True)
class OracleVerdict:
    """``ok``: all hard checks pass; ``reasons``: every violation; ``score`` in [0, 1]."""

    ok: bool
    score: float
    reasons: tuple[Reason, ...]
    checks: tuple[CheckResult, ...]

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(r.code for r in self.reasons)


def element_counts(mols: Iterable[Chem.Mol], hydrogen: bool = False) -> Counter:
    """Element symbol -> number of atoms; hydrogen atoms are counted only if ``hydrogen``."""
    counts = Counter()
    for mol in mols:
        for atom in mol.GetAtoms():
            if hydrogen or atom.GetAtomicNum() != 1:
                counts[atom.GetSymbol()] += 1
    return counts


def _all_h_explicit(mols: Iterable[Chem.Mol]) -> bool:
    return all(a.GetTotalNumHs() == 0 for m in mols for a in m.GetAtoms())


def _left(reaction: Reaction, include_reagents: bool) -> tuple[Chem.Mol, ...]:
    return reaction.reactant_mols + (reaction.reagent_mols if include_reagents else ())


def element_subset(reaction: Reaction, include_reagents: bool = True) -> CheckResult:
    """Hard: no product element occurs more often than on the reactant side."""
    left = _left(reaction, include_reagents)
    hydrogen = _all_h_explicit(left) and _all_h_explicit(reaction.product_mols)
    have = element_counts(left, hydrogen)
    need = element_counts(reaction.product_mols, hydrogen)
    side = "reactants + reagents" if include_reagents and reaction.reagent_mols else "reactants"
    reasons = tuple(
        Reason(
            "element_subset",
            f"element_not_conserved:{el}+{n - have[el]}",
            f"the products have {n} {el} but the {side} only {have[el]}",
        )
        for el, n in sorted(need.items())
        if n > have[el]
    )
    return CheckResult("element_subset", reasons)


def mapped_elements(reaction: Reaction) -> CheckResult:
    """Hard: a mapped product atom keeps the element of its reactant atom. Skipped if unmapped."""
    if not reaction.mapped:
        return CheckResult("mapped_elements", skipped=True)
    left = {a.GetAtomMapNum(): a.GetSymbol() for m in _left(reaction, True) for a in m.GetAtoms()}
    reasons = []
    for atom in reaction.products.GetAtoms():
        m = atom.GetAtomMapNum()
        if m and atom.GetSymbol() != left[m]:  # parse_reaction guarantees the map exists
            reasons.append(Reason(
                "mapped_elements",
                f"mapped_element_changed:{m}:{left[m]}->{atom.GetSymbol()}",
                f"atom map {m} is {left[m]} in the reactants but {atom.GetSymbol()} in the products",
            ))  # fmt: skip
    return CheckResult("mapped_elements", tuple(reasons))


def charge_change(reaction: Reaction, include_reagents: bool = True) -> int:
    """Total formal charge of the products minus that of the reactant side."""
    left = sum(a.GetFormalCharge() for m in _left(reaction, include_reagents) for a in m.GetAtoms())
    return sum(a.GetFormalCharge() for a in reaction.products.GetAtoms()) - left


def formal_charge(reaction: Reaction, include_reagents: bool = True) -> CheckResult:
    """Soft: the net formal charge is the same on both sides (a warning when it is not)."""
    delta = charge_change(reaction, include_reagents)
    if delta == 0:
        return CheckResult("formal_charge")
    reason = Reason(
        "formal_charge",
        f"formal_charge_changed:{delta:+d}",
        f"the total formal charge changes by {delta:+d} from reactants to products",
        severity="warning",
    )
    return CheckResult("formal_charge", (reason,))


def sanitization(reaction: Reaction) -> CheckResult:
    """Hard: every molecule (products, reactants, reagents) passes RDKit sanitisation."""
    reasons = []
    for side in ("products", "reactants", "reagents"):
        for i, ((_, error), mol) in enumerate(zip(reaction.sanitized(side), reaction.mols(side), strict=True)):
            if error is None:
                continue
            kind = "valence" if "Valence" in error else "kekulize" if "Kekulize" in error else "other"
            reasons.append(Reason(
                "sanitization",
                f"sanitization_failed:{side[:-1]}{i + 1}:{kind}",
                f"{side[:-1]} {i + 1} ({smiles_of(mol)!r}) fails RDKit sanitisation: {error}",
            ))  # fmt: skip
    return CheckResult("sanitization", tuple(reasons))


def oracle_checks(reaction: Reaction | str, include_reagents: bool = True) -> OracleVerdict:
    """Run every check on ``reaction`` (a ``Reaction`` or a reaction SMILES) and combine them.

    ``include_reagents``: count reagent atoms and charges on the reactant side (the default)."""
    if isinstance(reaction, str):
        reaction = parse_reaction(reaction)
    checks = (
        element_subset(reaction, include_reagents),
        mapped_elements(reaction),
        formal_charge(reaction, include_reagents),
        sanitization(reaction),
    )
    reasons = tuple(r for c in checks for r in c.reasons)
    ok = not any(r.severity == "error" for r in reasons)
    score = CHARGE_PENALTY ** abs(charge_change(reaction, include_reagents)) if ok else 0.0
    return OracleVerdict(ok, float(score), reasons, checks)


def oracle_table(reactions: Iterable[Reaction | str], include_reagents: bool = True) -> pd.DataFrame:
    """One row per reaction: ``ok``, ``score``, ``codes`` (';'-joined), one column per check (True,
    False, or None when skipped) and ``error`` (the parse error of a malformed row, else None)."""
    rows = []
    for item in reactions:
        row = {"reaction": item if isinstance(item, str) else item.text, "error": None}
        try:
            verdict = oracle_checks(item, include_reagents)
        except ReactionParseError as err:
            row.update(ok=False, score=float("nan"), codes="", error=str(err), **dict.fromkeys(CHECKS))
        else:
            row.update(ok=verdict.ok, score=verdict.score, codes=";".join(verdict.codes))
            row.update({c.check: c.passed for c in verdict.checks})
        rows.append(row)
    return pd.DataFrame(rows, columns=["reaction", "ok", "score", "codes", *CHECKS, "error"])
