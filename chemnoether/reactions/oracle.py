"""The oracle: quantities chemistry conserves in every reaction, compared across the *balanced* reaction.

The reaction is first balanced (``balance.balance_reaction``): spectators written on both sides
set aside, the main product told from the by-products, and the by-products that close the atom
balance inferred (water, HX, alcohols, CO2, N2, salts...). Checks (each a ``CheckResult``):

* ``element_subset`` (hard): the product element multiset is a sub-multiset of the reactant (plus,
  by default, reagent) elements. Heavy atoms always; hydrogen (all its atoms, written or implicit)
  only when the writer tracks it, i.e. some hydrogen is written as an atom (``[H]``): records such
  as USPTO omit reductants and by-products, mechanistic steps do not. A by-product written where
  the reactants lack its atoms fails here.
* ``mapped_elements`` (hard): every mapped product atom has the element of the reactant atom with
  the same map number. Skipped (not failed) on unmapped reactions.
* ``formal_charge``: the net charge of the balanced reaction (inferred ions included) changes.
  Soft for records (about 3% of real USPTO reactions change it: omitted counter-ions), lowering
  the score by ``CHARGE_PENALTY`` per unit; hard when hydrogens are tracked (a complete equation
  that changes charge creates or destroys electrons).
* ``electrons`` (soft): the number of unpaired electrons changes (a radical appears or vanishes
  without its partner): ``RADICAL_PENALTY`` per electron.
* ``sanitization`` (hard): every product and every reactant (and reagent) molecule passes RDKit
  sanitisation (valence, kekulisation, aromaticity).
* ``no_change`` (hard): nothing happens (every product is also written as a reactant): a reaction
  must change at least one bond.
* ``main_product`` (hard): the products are only inorganic by-products (water, HCl, CO2...; no
  carbon bonded to carbon or hydrogen) while a reactant has a carbon skeleton (a C-C bond): the
  main product was left out. (The combustion of ethane is refused too; that of methane is not.)

``OracleVerdict.ok`` is true when every hard check passes; ``score`` is 0 when one fails, else the
product of the soft penalties (1 for a reaction that passes everything); ``balance`` is the
balanced reading the checks compared.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd
from rdkit import Chem

from chemnoether.reactions.balance import (
    BYPRODUCTS,
    CHARGE,
    Balance,
    total_formula,
    balance_reaction,
    formula,
    identity,
    mol_facts,
)
from chemnoether.reactions.parse import (
    Reaction,
    ReactionParseError,
    parse_reaction,
    smiles_of,
)

CHARGE_PENALTY = 0.5
RADICAL_PENALTY = 0.5
CHECKS = ("element_subset", "mapped_elements", "formal_charge", "electrons", "sanitization", "no_change", "main_product")
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
    """``ok``: all hard checks pass; ``reasons``: every violation; ``score`` in [0, 1];
    ``balance``: the balanced reading of the reaction that the checks compared."""

    ok: bool
    score: float
    reasons: tuple[Reason, ...]
    checks: tuple[CheckResult, ...]
    balance: Balance | None = None

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(r.code for r in self.reasons)


def element_counts(mols: Iterable[Chem.Mol], hydrogen: bool = False) -> Counter:
    """Element symbol -> number of atoms; with ``hydrogen``, every hydrogen too (atoms written
    ``[H]`` and the implicit or bracket counts of the other atoms), else none."""
    counts = Counter()
    for mol in mols:
        counts.update(mol_facts(mol).formula)
    counts.pop(CHARGE, None)
    if not hydrogen:
        counts.pop("H", None)
    return +counts


def _heavy_or_all(counts: Counter, hydrogen: bool) -> Counter:
    counts = Counter({k: v for k, v in counts.items() if k != CHARGE and (hydrogen or k != "H")})
    return +counts


def tracks_hydrogen(reaction: Reaction) -> bool:
    """True when some hydrogen of the reactants or products is written as an atom (``[H]``)."""
    return any(a.GetAtomicNum() == 1 for m in reaction.reactant_mols + reaction.product_mols for a in m.GetAtoms())


def _left(reaction: Reaction, include_reagents: bool) -> tuple[Chem.Mol, ...]:
    return reaction.reactant_mols + (reaction.reagent_mols if include_reagents else ())


def element_subset(reaction: Reaction, include_reagents: bool = True, balance: Balance | None = None) -> CheckResult:
    """Hard: no product element occurs more often than on the reactant side."""
    left = _left(reaction, include_reagents)
    if balance is None:
        have, need = element_counts(left, tracks_hydrogen(reaction)), element_counts(reaction.product_mols, tracks_hydrogen(reaction))
    else:  # the formulas the balance has read already
        sides = [[f for (side, _), f in balance.facts.items() if side == name] for name in ("reactants", "products")]
        have = _heavy_or_all(total_formula([f.formula for f in sides[0]] + ([formula(m) for m in reaction.reagent_mols] if include_reagents else [])), balance.explicit_h)
        need = _heavy_or_all(total_formula([f.formula for f in sides[1]]), balance.explicit_h)
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


def formal_charge(reaction: Reaction, include_reagents: bool = True, balance: Balance | None = None) -> CheckResult:
    """The net formal charge of the balanced reaction is kept: a warning when it is not, an error
    when the reaction tracks hydrogen (then it is a complete equation)."""
    balance = balance or balance_reaction(reaction, include_reagents)
    delta = balance.charge_change
    if delta == 0:
        return CheckResult("formal_charge")
    hard = balance.explicit_h
    reason = Reason(
        "formal_charge",
        f"formal_charge_changed:{delta:+d}",
        f"the total formal charge changes by {delta:+d} from reactants to products"
        + (" in a reaction that writes its hydrogens: electrons are created or destroyed" if hard else ""),
        severity="error" if hard else "warning",
    )
    return CheckResult("formal_charge", (reason,))


def radical_change(reaction: Reaction, balance: Balance | None = None) -> int | None:
    """Unpaired electrons of the products minus those of the reactants taking part (spectators
    left out); None when a molecule does not sanitise (RDKit assigns radicals when sanitising)."""
    balance = balance or balance_reaction(reaction)
    products, reactants = balance.side_facts("products"), balance.side_facts("reactants")
    if any(f.radicals is None for f in products + reactants):
        return None
    return sum(f.radicals for f in products) - sum(f.radicals for f in reactants)


def electrons(reaction: Reaction, balance: Balance | None = None) -> CheckResult:
    """Soft: the number of unpaired electrons is kept (radicals appear and vanish in pairs with
    their partners written). Skipped when a molecule does not sanitise."""
    delta = radical_change(reaction, balance)
    if delta is None:
        return CheckResult("electrons", skipped=True)
    if delta == 0:
        return CheckResult("electrons")
    reason = Reason("electrons", f"unpaired_electrons_changed:{delta:+d}",
                    f"the number of unpaired electrons changes by {delta:+d} from reactants to products",
                    severity="warning")  # fmt: skip
    return CheckResult("electrons", (reason,))


def no_change(reaction: Reaction, balance: Balance | None = None) -> CheckResult:
    """Hard: some bond changes, i.e. not every product is also written as a reactant."""
    balance = balance or balance_reaction(reaction)
    if not balance.null:
        return CheckResult("no_change")
    same = ".".join(balance.spectators)
    reason = Reason("no_change", "no_bond_change",
                    f"nothing changes: every product ({same}) is also written as a reactant; "
                    "a reaction must change at least one bond")  # fmt: skip
    return CheckResult("no_change", (reason,))


def main_product(reaction: Reaction, balance: Balance | None = None) -> CheckResult:
    """Hard: when a reactant taking part has a C-C bond, some product is organic."""
    balance = balance or balance_reaction(reaction)
    if balance.null:
        return CheckResult("main_product", skipped=True)
    if any(f.organic for f in balance.side_facts("products")) or not any(f.skeleton for f in balance.side_facts("reactants")):
        return CheckResult("main_product")
    products = [reaction.product_mols[i] for i in balance.main + balance.written_byproducts]
    names = ", ".join(BYPRODUCTS.get(identity(m), smiles_of(m)) for m in products)
    reason = Reason("main_product", "no_main_product",
                    f"the products ({names}) are by-products only, while the reactants are organic: "
                    "write the main product")  # fmt: skip
    return CheckResult("main_product", (reason,))


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
    balance = balance_reaction(reaction, include_reagents)
    checks = (
        element_subset(reaction, include_reagents, balance),
        mapped_elements(reaction),
        formal_charge(reaction, include_reagents, balance),
        electrons(reaction, balance),
        sanitization(reaction),
        no_change(reaction, balance),
        main_product(reaction, balance),
    )
    reasons = tuple(r for c in checks for r in c.reasons)
    ok = not any(r.severity == "error" for r in reasons)
    score = 0.0
    if ok:
        radicals = radical_change(reaction, balance) or 0
        score = CHARGE_PENALTY ** abs(balance.charge_change) * RADICAL_PENALTY ** abs(radicals)
    return OracleVerdict(ok, float(score), reasons, checks, balance)


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
