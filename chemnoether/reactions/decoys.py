"""Decoy products for a reaction: same reactants, a wrong product, from five named families.

Each ``generate_Dk(reaction, rng, ..., n=5)`` returns at most ``n`` ``Decoy`` objects (an empty
list when the family cannot make one for this reaction); ``rng`` is a seed or a
``numpy.random.Generator``, and the same seed gives the same decoys. Every family drops outcomes
whose canonical SMILES (without stereo) equals the true product's, and duplicates.

* **D0** broken element balance: one product atom replaced by an element of the same valence
  group (F/Cl/Br/I, O/S/Se, N/P, C/Si) or one atom added on a hydrogen-bearing atom, such that
  the product needs more of that element than the reactant side has. Kept only if it sanitises,
  so the element check is what gives it away (the oracle must flag every D0).
* **D1** bond-order change: one bond of the Kekulé product goes single<->double or
  double<->triple; the two end atoms lose (gain) one hydrogen when they have one, else they keep
  theirs and the decoy may be over-valent. Kept if its SMILES parses, sanitised or not.
* **D2** bond move: a single bond a-b is removed and a-c added (c carried a hydrogen, b gets
  one), keeping the heavy atoms, the number of molecules and sanitisability; connectivity changes.
* **D3** the product of another reaction from a pool whose reactants are most similar (Morgan
  radius-2 Tanimoto over the combined reactants), excluding identical products.
* **D4** templates: the reaction's own reaction-centre template applied at another site, then
  templates extracted from the pool's mapped reactions that match the reactants. Atoms and
  valence are conserved, so these pass the oracle (outcomes that do not are dropped).

The reaction of a decoy is unmapped (reactants and reagents of ``reaction.without_maps()``);
compare decoys with the unmapped true reaction. For D0-D2, ``Decoy.mol`` is the edited product
with the atom indices of ``plain_product(reaction)`` (an added atom comes last).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from rdkit import Chem, rdBase

from chemnoether.reactions.oracle import element_counts, oracle_checks
from chemnoether.reactions.parse import Reaction, canonical_key, combine_mols
from chemnoether.reactions.templates import (
    ReactionPool,
    apply_template,
    extract_template,
)

FAMILIES = ("D0", "D1", "D2", "D3", "D4")
_SWAPS = {"F": "Cl Br I", "Cl": "F Br I", "Br": "F Cl I", "I": "F Cl Br", "O": "S Se", "S": "O Se",
          "Se": "O S", "N": "P", "P": "N", "C": "Si", "Si": "C"}  # fmt: skip
_ADD_H = {"F": 0, "Cl": 0, "Br": 0, "I": 0, "O": 1, "S": 1, "Se": 1, "N": 2, "P": 2, "C": 3, "Si": 3}
_ORDER = {Chem.BondType.SINGLE: 1, Chem.BondType.DOUBLE: 2, Chem.BondType.TRIPLE: 3}
_TYPE = {v: k for k, v in _ORDER.items()}


@dataclass(frozen=True, eq=False)
class Decoy:
    """A wrong product for the reactants of a reaction, tagged with its family and what changed.

    ``smiles``: the decoy product; ``reaction``: the unmapped reactants and reagents with it;
    ``note``: the edit or the source; ``mol`` (D0-D2): the edited Kekulé product before
    sanitisation, atom-aligned to ``plain_product`` of the true reaction."""

    family: str
    smiles: str
    reaction: Reaction
    note: str
    mol: Chem.Mol | None = None


def _rng(rng) -> np.random.Generator:
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def skeleton_key(mol: Chem.Mol) -> str:
    """Canonical SMILES of the heavy-atom graph alone (elements and which atoms are bonded)."""
    bare = Chem.RWMol()
    for atom in mol.GetAtoms():
        bare.AddAtom(Chem.Atom(atom.GetAtomicNum()))
    for bond in mol.GetBonds():
        bare.AddBond(bond.GetBeginAtomIdx(), bond.GetEndAtomIdx(), Chem.BondType.SINGLE)
    for atom in bare.GetAtoms():
        atom.SetNoImplicit(True)
    bare.UpdatePropertyCache(strict=False)
    return Chem.MolToSmiles(bare, canonical=True)


def plain_product(reaction: Reaction) -> Chem.Mol | None:
    """The true product, sanitised, unmapped, Kekulé, each atom's hydrogen count made explicit so
    that edits control it exactly; None if a product molecule does not sanitise."""
    mols = [m for m, _ in reaction.sanitized("products")]
    if any(m is None for m in mols):
        return None
    out = combine_mols(mols)
    for atom in out.GetAtoms():
        atom.SetAtomMapNum(0)
        atom.SetNumExplicitHs(atom.GetTotalNumHs())
        atom.SetNoImplicit(True)
    Chem.Kekulize(out, clearAromaticFlags=True)
    return out


def _finish(edited: Chem.Mol, need_sanitized: bool) -> tuple[str, str] | None:
    """(SMILES, key) of an edited product, or None if it does not parse back (or sanitise)."""
    mol = Chem.Mol(edited)
    mol.UpdatePropertyCache(strict=False)
    with rdBase.BlockLogs():
        try:
            Chem.SanitizeMol(mol)
        except Exception:  # noqa: BLE001 - an over-valent decoy is allowed in D1 only
            if need_sanitized:
                return None
            mol = Chem.Mol(edited)
            mol.UpdatePropertyCache(strict=False)
        smiles = Chem.MolToSmiles(mol)
        if Chem.MolFromSmiles(smiles, sanitize=False) is None:
            return None
    return smiles, canonical_key(mol)


def _edit_family(reaction, rng, n, family, candidates, edit, need_sanitized, max_tries, accept=None):
    """Shared loop of D0-D2: try shuffled candidate edits until ``n`` new products are found."""
    base = plain_product(reaction)
    if base is None:
        return []
    cands = candidates(base)
    seen = {reaction.product_key()}
    unmapped = reaction.without_maps()
    out = []
    for j in _rng(rng).permutation(len(cands))[:max_tries]:
        edited = edit(base, cands[j])
        done = _finish(edited, need_sanitized) if edited is not None else None
        if done is None or done[1] in seen or (accept and not accept(base, edited)):
            continue
        seen.add(done[1])
        out.append(Decoy(family, done[0], unmapped.with_products(done[0]), cands[j][-1], edited))
        if len(out) == n:
            break
    return out


def _set_h(atom: Chem.Atom, h: int) -> None:
    atom.SetNumExplicitHs(max(h, 0))
    atom.SetNoImplicit(True)


def generate_D0(reaction: Reaction, rng, n: int = 5, max_tries: int = 50) -> list[Decoy]:
    """D0: one atom changed to, or one atom added of, an element the reactants lack enough of."""
    have = element_counts(reaction.reactant_mols + reaction.reagent_mols)

    def candidates(base):
        need = element_counts([base])
        short = lambda el: need[el] + 1 > have[el]  # one more of el would break the balance
        out = []
        for atom in base.GetAtoms():
            el, i = atom.GetSymbol(), atom.GetIdx()
            if atom.GetFormalCharge() == 0:
                out += [(i, x, False, f"atom {i} {el}->{x}") for x in _SWAPS.get(el, "").split() if short(x)]
            if atom.GetTotalNumHs() > 0:
                out += [(i, x, True, f"{x} added on atom {i}") for x in _ADD_H if short(x)]
        return out

    def edit(base, cand):
        i, el, add, _ = cand
        mol = Chem.RWMol(base)
        z = Chem.GetPeriodicTable().GetAtomicNumber(el)
        if add:
            new = mol.AddAtom(Chem.Atom(z))
            _set_h(mol.GetAtomWithIdx(new), _ADD_H[el])
            mol.AddBond(i, new, Chem.BondType.SINGLE)
            _set_h(mol.GetAtomWithIdx(i), mol.GetAtomWithIdx(i).GetNumExplicitHs() - 1)
        else:
            mol.GetAtomWithIdx(i).SetAtomicNum(z)
        return mol.GetMol()

    return _edit_family(reaction, rng, n, "D0", candidates, edit, True, max_tries)


def generate_D1(reaction: Reaction, rng, n: int = 5, max_tries: int = 50) -> list[Decoy]:
    """D1: one bond order of the Kekulé product changed by one (H adjusted where possible)."""

    def candidates(base):
        out = []
        for b in base.GetBonds():
            old = _ORDER.get(b.GetBondType())
            for new in (old - 1, old + 1) if old else ():
                if 1 <= new <= 3:
                    out.append((b.GetIdx(), new, f"bond {b.GetBeginAtomIdx()}-{b.GetEndAtomIdx()} {old}->{new}"))
        return out

    def edit(base, cand):
        mol = Chem.RWMol(base)
        bond = mol.GetBondWithIdx(cand[0])
        delta = cand[1] - _ORDER[bond.GetBondType()]
        bond.SetBondType(_TYPE[cand[1]])
        for atom in (bond.GetBeginAtom(), bond.GetEndAtom()):
            if atom.GetNumExplicitHs() >= delta:  # an atom without H to give becomes over-valent
                _set_h(atom, atom.GetNumExplicitHs() - delta)
        return mol.GetMol()

    return _edit_family(reaction, rng, n, "D1", candidates, edit, False, max_tries)


def generate_D2(reaction: Reaction, rng, n: int = 5, max_tries: int = 100, ring_bonds: bool = False) -> list[Decoy]:
    """D2: bond a-b moved to a-c (c loses an H, b gains one); heavy atoms and sanitisability kept.

    By default only acyclic bonds move (a substituent migrates: a regioisomer); ``ring_bonds``
    lets ring bonds move too, which opens rings and makes far stranger molecules."""

    def candidates(base):
        with_h = [a.GetIdx() for a in base.GetAtoms() if a.GetNumExplicitHs() > 0]
        out = []
        for b in base.GetBonds():
            if b.GetBondType() != Chem.BondType.SINGLE or (b.IsInRing() and not ring_bonds):
                continue
            for a, x in ((b.GetBeginAtomIdx(), b.GetEndAtomIdx()), (b.GetEndAtomIdx(), b.GetBeginAtomIdx())):
                out += [(a, x, c, f"bond {a}-{x} moved to {a}-{c}") for c in with_h
                        if c not in (a, x) and base.GetBondBetweenAtoms(a, c) is None]  # fmt: skip
        return out

    def edit(base, cand):
        a, x, c, _ = cand
        mol = Chem.RWMol(base)
        mol.RemoveBond(a, x)
        mol.AddBond(a, c, Chem.BondType.SINGLE)
        _set_h(mol.GetAtomWithIdx(x), mol.GetAtomWithIdx(x).GetNumExplicitHs() + 1)
        _set_h(mol.GetAtomWithIdx(c), mol.GetAtomWithIdx(c).GetNumExplicitHs() - 1)
        out = mol.GetMol()
        return out if len(Chem.GetMolFrags(out)) == len(Chem.GetMolFrags(base)) else None

    def accept(base, edited):
        return skeleton_key(edited) != skeleton_key(base)

    return _edit_family(reaction, rng, n, "D2", candidates, edit, True, max_tries, accept)


def generate_D3(reaction: Reaction, rng, pool: ReactionPool, n: int = 5) -> list[Decoy]:
    """D3: products of the pool reactions with the most similar reactants, other products only."""
    seen = {reaction.product_key()}
    unmapped = reaction.without_maps()
    out = []
    for j, sim in pool.nearest(reaction, rng):
        if pool.keys[j] in seen:
            continue
        seen.add(pool.keys[j])
        note = f"product of pool reaction {j} (Tanimoto {sim:.2f})"
        out.append(Decoy("D3", pool.products[j], unmapped.with_products(pool.products[j]), note))
        if len(out) == n:
            break
    return out


def generate_D4(
    reaction: Reaction,
    rng,
    pool: ReactionPool | None = None,
    n: int = 5,
    max_templates: int = 50,
    min_size: float = 0.5,
) -> list[Decoy]:
    """D4: own template at another site, then (with a pool) other matching templates, oracle-ok.

    Outcomes with fewer than ``min_size`` times the true product's heavy atoms are dropped: a
    template that merely hydrolyses a reagent gives a fragment no scorer could mistake."""
    reactants = reaction.unmapped_sanitized()
    seen = {reaction.product_key()}
    if reactants is None or None in seen:
        return []
    smallest = min_size * reaction.products.GetNumHeavyAtoms()
    unmapped = reaction.without_maps()
    own = extract_template(reaction)
    tried = [(own, "own template at another site")] if own is not None else []
    if pool is not None:
        own_smarts = own.smarts if own is not None else None
        cands = [t for t in pool.templates.matching(reactants) if pool.templates[t].smarts != own_smarts]
        for t in _rng(rng).permutation(cands)[:max_templates] if cands else ():
            tried.append((pool.templates[t], f"template {t} of the pool"))
    out = []
    for template, note in tried:
        for mol in apply_template(template, reactants).values():
            key = canonical_key(mol)
            if key in seen or mol.GetNumHeavyAtoms() < smallest:
                continue
            seen.add(key)
            smiles = Chem.MolToSmiles(mol)
            decoy = Decoy("D4", smiles, unmapped.with_products(smiles), note)
            if oracle_checks(decoy.reaction).ok:
                out.append(decoy)
                if len(out) == n:
                    return out
    return out


GENERATORS = {"D0": generate_D0, "D1": generate_D1, "D2": generate_D2, "D3": generate_D3, "D4": generate_D4}


def generate_decoys(
    reaction: Reaction, seed: int, pool: ReactionPool | None = None, families=FAMILIES, n: int = 5
) -> list[Decoy]:
    """Up to ``n`` decoys of each of ``families`` (D3 needs a ``pool``; without one it is skipped).

    Each family draws from its own generator seeded by (``seed``, family number), so adding or
    dropping a family does not change the decoys of the others."""
    out = []
    for family in families:
        if family not in GENERATORS:
            raise ValueError(f"unknown decoy family {family!r}; choose from {FAMILIES}")
        rng = np.random.default_rng([seed, FAMILIES.index(family)])
        if family == "D3":
            out += generate_D3(reaction, rng, pool, n=n) if pool is not None else []
        elif family == "D4":
            out += generate_D4(reaction, rng, pool, n=n)
        else:
            out += GENERATORS[family](reaction, rng, n=n)
    return out
