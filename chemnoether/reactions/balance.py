"""A reaction as chemists write it, balanced: spectators, the main product, by-products, what is left.

Conserved quantities are compared across a *balanced* reaction (docs/design.md section 7), so before any check:

1. **Spectators**: a molecule written on both sides (a catalyst, a counter-ion, a stoichiometric
   partner that takes no part) is set aside, one copy per pair, compared by canonical SMILES with
   stereo (an epimerisation is a change). If nothing is left on the product side, nothing
   happened: a **null reaction** (``R>>R``, ``A.B>>A``), which the oracle refuses.
2. **Main product**: the largest remaining product (most heavy atoms; the first written on a tie).
   The learned score rates how it forms from the reactants, which is what its training records
   (USPTO, main product only) show.
3. **Written by-products**: every other product. They are not rated by the learned score; the
   conservation checks count their atoms (a by-product whose atoms the reactants lack breaks the
   element balance).
4. **Inferred by-products**: the atoms (hydrogen included) and charge the reactants have left
   after all written products are closed, when they can be, by at most ``MAX_INFERRED`` small
   molecules of ``BYPRODUCTS`` (water, HX, alcohols, CO2, N2, salts...), fewest molecules first.
   What cannot be closed is reported: ``spare`` (reactant atoms in no product) and ``missing``
   (product atoms, hydrogen included, that the reactant side lacks).

Hydrogen is conserved in every complete equation, but records such as USPTO omit reductants and
by-products, so hydrogen is *checked* only when the writer tracks it: ``explicit_h`` is true when
some hydrogen is written as an atom (``[H]``), as in mechanistic steps. Then the oracle holds
hydrogen and charge to exact conservation.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache

from rdkit import Chem, rdBase

from chemnoether.reactions.parse import Reaction

MAX_INFERRED = 4  # molecules tried to close a balance: 2 salts = 4 ions
# By-products a balance may infer (canonical SMILES -> name). Small, common, and each the usual
# leaving group of a reaction class: condensations, acylations, alkylations, deprotections.
BYPRODUCTS: dict[str, str] = {
    "O": "water", "Cl": "hydrogen chloride", "Br": "hydrogen bromide", "I": "hydrogen iodide",
    "F": "hydrogen fluoride", "CO": "methanol", "CCO": "ethanol", "CC(C)(C)O": "tert-butanol",
    "CC(C)O": "isopropanol", "O=C=O": "carbon dioxide", "N#N": "nitrogen", "N": "ammonia",
    "CC(=O)O": "acetic acid", "C=C(C)C": "isobutene", "O=S=O": "sulfur dioxide",
    "OB(O)O": "boric acid", "CS(=O)(=O)O": "methanesulfonic acid",
    "Cc1ccc(S(=O)(=O)O)cc1": "p-toluenesulfonic acid", "O=S(=O)(O)C(F)(F)F": "triflic acid",
    "O=C1CCC(=O)N1": "succinimide", "On1nnc2ccccc21": "HOBt",
    "[Na+]": "sodium ion", "[K+]": "potassium ion", "[Li+]": "lithium ion", "[Cs+]": "caesium ion",
    "[Cl-]": "chloride", "[Br-]": "bromide", "[I-]": "iodide", "[F-]": "fluoride", "[OH-]": "hydroxide",
}  # fmt: skip
CHARGE = "charge"  # key of the net charge in a formula Counter


@dataclass(frozen=True)
class MolFacts:
    """What the balance and the oracle need of one molecule, read in one pass over its atoms."""

    formula: Counter  # element -> count, hydrogen included, net charge under CHARGE
    heavy: int  # heavy atoms
    h_atoms: bool  # some hydrogen is written as an atom
    organic: bool  # a carbon bonded to a hydrogen or to another carbon
    skeleton: bool  # a carbon-carbon bond
    radicals: int | None  # unpaired electrons (None: the molecule does not sanitise)


def mol_facts(mol: Chem.Mol, sanitized: Chem.Mol | None = None) -> MolFacts:
    """``MolFacts`` of ``mol`` (unsanitised, property cache updated); radicals come from its
    ``sanitized`` copy, since RDKit assigns them when sanitising."""
    source = mol if sanitized is None else sanitized
    counts, heavy, h_atoms, organic, skeleton, radicals = Counter(), 0, False, False, False, 0
    for i in range(source.GetNumAtoms()):  # GetAtomWithIdx: RDKit's atom sequence wrapper is slow
        atom = source.GetAtomWithIdx(i)
        z = atom.GetAtomicNum()
        counts[atom.GetSymbol()] += 1
        hs = atom.GetTotalNumHs()
        counts["H"] += hs
        counts[CHARGE] += atom.GetFormalCharge()
        radicals += atom.GetNumRadicalElectrons()
        if z == 1:
            h_atoms = True
        else:
            heavy += 1
        if z == 6 and not skeleton:
            neighbours = [n.GetAtomicNum() for n in atom.GetNeighbors()]
            skeleton = 6 in neighbours
            organic = organic or skeleton or hs > 0 or 1 in neighbours
    formula_ = Counter({k: v for k, v in counts.items() if v})  # not +counts: it would drop a negative charge
    return MolFacts(formula_, heavy, h_atoms, organic, skeleton, None if sanitized is None else radicals)


def formula(mol: Chem.Mol) -> Counter:
    """Element -> count, hydrogen included (atoms written ``[H]`` and implicit or bracket H
    counts), plus the net formal charge under ``CHARGE``."""
    return mol_facts(mol).formula


def _formula_of_smiles(smiles: str) -> Counter:
    return formula(Chem.MolFromSmiles(smiles))


_BYPRODUCT_FORMULAS = {s: _formula_of_smiles(s) for s in BYPRODUCTS}


def formula_text(counts: Counter) -> str:
    """Hill-order formula with the charge, e.g. ``C2H6O``, ``Cl-``, ``H2`` (empty for nothing)."""
    elements = {k: v for k, v in counts.items() if k != CHARGE and v}
    first = [k for k in ("C", "H") if k in elements] if "C" in elements else []
    order = first + sorted(k for k in elements if k not in first)
    text = "".join(f"{k}{elements[k] if elements[k] != 1 else ''}" for k in order)
    q = counts.get(CHARGE, 0)
    return text + ("" if q == 0 else "+" if q == 1 else "-" if q == -1 else f"{q:+d}")


def identity(mol: Chem.Mol) -> str:
    """Canonical SMILES with stereo, without atom maps, hydrogens as counts: what 'the same
    molecule' means for spectators and null reactions."""
    copy = Chem.Mol(mol)
    for atom in copy.GetAtoms():
        atom.SetAtomMapNum(0)
    with rdBase.BlockLogs():
        try:
            copy = Chem.RemoveHs(copy, sanitize=False)
        except Exception:  # noqa: BLE001 - keep the H atoms of a molecule RDKit cannot simplify
            pass
        return Chem.MolToSmiles(copy)


@dataclass(frozen=True)
class Balance:
    """The balanced reading of a reaction (see the module docstring).

    Indices refer to ``reaction.reactant_mols`` / ``reaction.product_mols``; ``facts`` holds the
    ``MolFacts`` of every reactant and product, keyed ``("reactants", i)`` / ``("products", i)``."""

    reactants: tuple[int, ...]  # reactants that take part (spectators left out)
    main: tuple[int, ...]  # the main product (empty for a null reaction)
    written_byproducts: tuple[int, ...]
    spectators: tuple[str, ...]  # identities of the molecules set aside
    inferred: tuple[str, ...]  # canonical SMILES of the by-products that close the balance
    spare: Counter = field(default_factory=Counter)  # reactant atoms (and charge) in no product
    missing: Counter = field(default_factory=Counter)  # product atoms the reactant side lacks
    charge_change: int = 0  # products + inferred by-products - reactants (reagents counted)
    explicit_h: bool = False
    facts: dict = field(default_factory=dict, repr=False, compare=False)

    def side_facts(self, side: str) -> list[MolFacts]:
        """Facts of the molecules taking part: the reactants left, or the products (main first)."""
        if side == "reactants":
            return [self.facts[side, i] for i in self.reactants]
        return [self.facts[side, i] for i in self.main + self.written_byproducts]

    @property
    def null(self) -> bool:
        return not self.main

    @property
    def closed(self) -> bool:
        return not self.spare and not self.missing

    def unbalanced_text(self) -> str:
        """'' when balanced, else what is left, e.g. 'reactants keep C2H4O; products need H2'."""
        parts = []
        if self.spare:
            parts.append(f"reactants keep {formula_text(self.spare)}")
        if self.missing:
            parts.append(f"products need {formula_text(self.missing)}")
        return "; ".join(parts)


def balance_reaction(reaction: Reaction, include_reagents: bool = True) -> Balance:
    """Balance ``reaction``: spectators, main product, written and inferred by-products, leftovers.

    ``include_reagents``: reagent atoms may supply product atoms (``missing`` counts against
    reactants plus reagents); inferred by-products always come from the reactants alone, since a
    solvent or catalyst is not consumed."""
    facts = {(side, i): mol_facts(m, copy) for side in ("reactants", "products")
             for i, (m, (copy, _)) in enumerate(zip(reaction.mols(side), reaction.sanitized(side), strict=True))}  # fmt: skip
    # canonical SMILES only for molecules that may be spectators (same formula on both sides): costly
    shared = {_key(facts[k].formula) for k in facts if k[0] == "reactants"} & {_key(facts[k].formula) for k in facts if k[0] == "products"}
    ident = {k: identity(m) if _key(facts[k].formula) in shared else f"{k[0]} {k[1]}"
             for k, m in ((("reactants", i), m) for i, m in enumerate(reaction.reactant_mols))}  # fmt: skip
    ident.update({k: identity(m) if _key(facts[k].formula) in shared else f"{k[0]} {k[1]}"
                  for k, m in ((("products", i), m) for i, m in enumerate(reaction.product_mols))})  # fmt: skip
    reactant_ids = [ident["reactants", i] for i in range(len(reaction.reactant_mols))]
    product_ids = [ident["products", i] for i in range(len(reaction.product_mols))]
    pool = Counter(reactant_ids)
    spectators, products = [], []
    for i, ident in enumerate(product_ids):
        if pool[ident] > 0:
            pool[ident] -= 1
            spectators.append(ident)
        else:
            products.append(i)
    gone = Counter(spectators)
    reactants = []
    for i, ident in enumerate(reactant_ids):
        if gone[ident] > 0:
            gone[ident] -= 1
        else:
            reactants.append(i)
    explicit_h = any(f.h_atoms for f in facts.values())
    if not products:
        return Balance(tuple(reactants), (), (), tuple(spectators), (), explicit_h=explicit_h, facts=facts)
    size = [facts["products", i].heavy for i in products]
    main = products[size.index(max(size))]
    left = total_formula(facts["reactants", i].formula for i in reactants)
    right = total_formula(facts["products", i].formula for i in products)
    reagents = total_formula(formula(m) for m in reaction.reagent_mols) if include_reagents else Counter()
    spare = _subtract(left, right)
    missing = _subtract(right, total_formula([left, reagents]))
    missing.pop(CHARGE, None)  # a charge difference is not an atom: charge_change reports it
    inferred: tuple[str, ...] = ()
    if not missing and spare:
        inferred = _closure(_key(spare)) or ()
        if inferred:
            spare = Counter()
    charge = right[CHARGE] + sum(_BYPRODUCT_FORMULAS[s][CHARGE] for s in inferred)
    charge -= left[CHARGE] + reagents[CHARGE]
    return Balance(
        reactants=tuple(reactants),
        main=(main,),
        written_byproducts=tuple(i for i in products if i != main),
        spectators=tuple(spectators),
        inferred=inferred,
        spare=+Counter({k: v for k, v in spare.items() if k != CHARGE}),
        missing=+missing,
        charge_change=int(charge),
        explicit_h=explicit_h,
        facts=facts,
    )


def total_formula(formulas) -> Counter:
    """Sum of formulas; Counter's ``+`` is not used because it drops a negative charge."""
    out = Counter()
    for f in formulas:
        out.update(f)
    return out


def _no_charge(counts: Counter) -> Counter:
    return Counter({k: v for k, v in counts.items() if k != CHARGE})


def _subtract(a: Counter, b: Counter) -> Counter:
    """Positive part of a - b per element; the charge difference a - b kept as it is."""
    out = Counter({k: a[k] - b[k] for k in set(a) | set(b) if k != CHARGE and a[k] > b[k]})
    if a[CHARGE] != b[CHARGE]:
        out[CHARGE] = a[CHARGE] - b[CHARGE]
    return out


def _key(counts: Counter) -> tuple:
    return tuple(sorted((k, v) for k, v in counts.items() if v))


@lru_cache(maxsize=65536)
def _closure(spare: tuple) -> tuple[str, ...] | None:
    """The fewest ``BYPRODUCTS`` (at most ``MAX_INFERRED``) whose atoms and charge sum to ``spare``."""
    target = Counter(dict(spare))
    elements = {k for k in target if k != CHARGE}
    usable = [s for s, f in _BYPRODUCT_FORMULAS.items() if set(f) - {CHARGE} <= elements]
    if not usable or any(not any(k in _BYPRODUCT_FORMULAS[s] for s in usable) for k in elements):
        return None  # an element no by-product carries: nothing closes it
    for size in range(1, MAX_INFERRED + 1):
        found = _search(target, usable, size, 0)
        if found is not None:
            return tuple(found)
    return None


def _atoms(counts: Counter) -> int:
    return sum(v for k, v in counts.items() if k != CHARGE)


def _search(target: Counter, usable: list[str], size: int, start: int) -> list[str] | None:
    left = _atoms(target)
    if size == 0:
        return [] if left == 0 and target.get(CHARGE, 0) == 0 else None
    largest = max((_atoms(_BYPRODUCT_FORMULAS[s]) for s in usable[start:]), default=0)
    if left > size * largest:
        return None  # too many atoms left for ``size`` more molecules
    for j in range(start, len(usable)):
        f = _BYPRODUCT_FORMULAS[usable[j]]
        if all(target[k] >= v for k, v in f.items() if k != CHARGE):
            rest = target.copy()
            for k, v in f.items():
                rest[k] -= v
            found = _search(rest, usable, size - 1, j)
            if found is not None:
                return [usable[j], *found]
    return None
