"""Ring and subgraph incidence of an RDKit molecule, as (atom, ring) and (atom, subgraph) pairs.

Rings are RDKit's symmetrized SSSR (``Chem.GetSymmSSSR``): every ring of the smallest set, plus the
symmetry-equivalent ones RDKit adds so that the set does not depend on atom order (cubane: 6, not
5). Fused and spiro atoms belong to every ring that contains them.

Subgraphs are functional-group matches from ``functional_groups.tsv`` (SMARTS written for this
package) and BRICS fragments (Degen et al. 2008): the pieces left after cutting RDKit's BRICS bonds.
Every subgraph node has a ``subgraph_type``: an index into ``SUBGRAPH_TYPES``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources

import numpy as np
from rdkit import Chem
from rdkit.Chem import BRICS

SUBGRAPH_KINDS = ("functional_groups", "brics")


@dataclass(frozen=True)
class FunctionalGroup:
    name: str
    smarts: str
    meaning: str
    needs_all: frozenset[int]  # atomic numbers that must all be present
    needs_any: tuple[frozenset[int], ...]  # for each, at least one must be present
    pattern: Chem.Mol

    def may_match(self, present: set[int]) -> bool:
        return self.needs_all <= present and all(present & group for group in self.needs_any)


def _parse_needs(text: str) -> tuple[frozenset[int], tuple[frozenset[int], ...]]:
    table = Chem.GetPeriodicTable()
    must, any_of = set(), []
    if text == "-":
        return frozenset(), ()
    for part in text.split(";"):
        symbols = part.split("|")
        numbers = frozenset(table.GetAtomicNumber(s) for s in symbols)
        if len(numbers) == 1:
            must |= numbers
        else:
            any_of.append(numbers)
    return frozenset(must), tuple(any_of)


def load_functional_groups() -> tuple[FunctionalGroup, ...]:
    """The shipped SMARTS catalogue, compiled; raises if any pattern fails to parse."""
    text = resources.files("chemnoether.featurize").joinpath("functional_groups.tsv").read_text()
    groups = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        name, needs, smarts, meaning = line.split("\t")
        pattern = Chem.MolFromSmarts(smarts)
        if pattern is None:
            raise ValueError(f"functional_groups.tsv: SMARTS for {name!r} does not parse: {smarts}")
        must, any_of = _parse_needs(needs)
        groups.append(FunctionalGroup(name, smarts, meaning, must, any_of, pattern))
    return tuple(groups)


FUNCTIONAL_GROUPS: tuple[FunctionalGroup, ...] = load_functional_groups()
BRICS_FRAGMENT = "brics_fragment"
# subgraph_type vocabulary: every functional group, then BRICS fragments
SUBGRAPH_TYPES: tuple[str, ...] = tuple(g.name for g in FUNCTIONAL_GROUPS) + (BRICS_FRAGMENT,)
BRICS_TYPE_ID = len(FUNCTIONAL_GROUPS)


def ring_list(mol: Chem.Mol) -> tuple[tuple[int, ...], ...]:
    """Atom rings of the symmetrized SSSR, from the ring info sanitisation stores (else computed)."""
    info = mol.GetRingInfo()
    try:
        # NumRings first: AtomRings() builds tuples even when there is nothing to return
        return info.AtomRings() if info.NumRings() else ()
    except RuntimeError:  # ring info not initialised: the molecule was never sanitised
        Chem.GetSymmSSSR(mol)
        return mol.GetRingInfo().AtomRings()


def ring_incidence(rings: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    """(atom ids, ring ids) pairs: atom ``a`` is in ring ``r`` for every pair."""
    atoms = [a for ring in rings for a in ring]
    ring_ids = [i for i, ring in enumerate(rings) for _ in ring]
    return np.asarray(atoms, dtype=np.int64), np.asarray(ring_ids, dtype=np.int64)


def functional_group_matches(mol: Chem.Mol) -> list[tuple[int, tuple[int, ...]]]:
    """(type id, matched atoms) for every match of every catalogue group, in catalogue order."""
    present = {mol.GetAtomWithIdx(i).GetAtomicNum() for i in range(mol.GetNumAtoms())}
    out = []
    for type_id, group in enumerate(FUNCTIONAL_GROUPS):
        if not group.may_match(present):
            continue
        for match in mol.GetSubstructMatches(group.pattern):
            out.append((type_id, match))
    return out


def brics_fragments(mol: Chem.Mol) -> list[tuple[int, ...]]:
    """Atom sets left after cutting every BRICS bond (a molecule without one is one fragment)."""
    n = mol.GetNumAtoms()
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    cut = {frozenset(pair) for pair, _ in BRICS.FindBRICSBonds(mol)}
    for bond in mol.GetBonds():
        i, j = bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()
        if frozenset((i, j)) not in cut:
            parent[find(i)] = find(j)
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(find(i), []).append(i)
    return [tuple(g) for g in groups.values()]


def subgraph_incidence(
    mol: Chem.Mol, kinds: tuple[str, ...]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(atom ids, subgraph ids, subgraph type per subgraph) for the requested ``kinds``."""
    unknown = set(kinds) - set(SUBGRAPH_KINDS)
    if unknown:
        raise ValueError(f"unknown subgraph kinds {sorted(unknown)}; choose from {SUBGRAPH_KINDS}")
    members: list[tuple[int, tuple[int, ...]]] = []
    if "functional_groups" in kinds:
        members.extend(functional_group_matches(mol))
    if "brics" in kinds:
        members.extend((BRICS_TYPE_ID, frag) for frag in brics_fragments(mol))
    atoms = [a for _, m in members for a in m]
    sub_ids = [i for i, (_, m) in enumerate(members) for _ in m]
    types = [t for t, _ in members]
    return (
        np.asarray(atoms, dtype=np.int64),
        np.asarray(sub_ids, dtype=np.int64),
        np.asarray(types, dtype=np.int64),
    )
