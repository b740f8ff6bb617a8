"""Decoys of an elementary step (``step_decoys``), each a *broken* step for the same reactants.

* ``E_charge``: one product atom's formal charge changed by one, nothing else (charge and
  electron count broken);
* ``E_hydrogen``: two hydrogens added across a double bond of the product (hydrogen from nowhere);
* ``E_valence``: a bond added between two atoms of the product (impossible valence), kept only
  when RDKit refuses the valence;
* ``E_bond``: a bond of the product moved to another atom, hydrogens moved with it (``generate_D2``
  on the step): atoms, charge and valence conserved, the connectivity wrong; only the learned
  score can see it.

The main (largest) product is the one edited; the other products are written as they are.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
from rdkit import Chem, rdBase

from chemnoether.reactions.decoys import generate_D2
from chemnoether.reactions.parse import parse_reaction

STEP_FAMILIES = ("E_charge", "E_hydrogen", "E_valence", "E_bond")


class _WrittenStep(Protocol):  # a ``steps.Step``; not imported: steps imports this module
    reaction: str


def step_decoys(step: _WrittenStep, seed: int) -> list[tuple[str, str]]:
    """(family, reaction SMILES) of broken versions of ``step`` (at most one per family)."""
    rng = np.random.default_rng(seed)
    left, right = step.reaction.split(">>")
    products = [Chem.MolFromSmiles(s, sanitize=False) for s in right.split(".")]
    main = int(np.argmax([m.GetNumHeavyAtoms() for m in products]))
    out = []
    for family, edit in (("E_charge", _break_charge), ("E_hydrogen", _add_h2), ("E_valence", _extra_bond)):
        mol = Chem.RWMol(products[main])
        mol.UpdatePropertyCache(strict=False)
        for atom in mol.GetAtoms():
            atom.SetNoImplicit(True)
        edited = edit(mol, rng)  # the SMILES of the edited product, or None
        if edited is None:
            continue
        others = [Chem.MolToSmiles(m) for i, m in enumerate(products) if i != main]
        out.append((family, left + ">>" + ".".join([edited, *others])))
    implicit = parse_reaction(left + ">>" + ".".join(Chem.MolToSmiles(Chem.RemoveHs(m, sanitize=False)) for m in products))
    moved = generate_D2(implicit, rng, n=1)  # its product holds every product molecule, edited
    if moved:
        out.append(("E_bond", left + ">>" + moved[0].smiles))
    return out


def _heavy(mol) -> list[int]:
    return [a.GetIdx() for a in mol.GetAtoms() if a.GetAtomicNum() > 1]


def _break_charge(mol: Chem.RWMol, rng) -> str | None:
    atom = mol.GetAtomWithIdx(int(rng.choice(_heavy(mol))))
    atom.SetFormalCharge(atom.GetFormalCharge() + int(rng.choice([-1, 1])))
    mol.UpdatePropertyCache(strict=False)  # so that the SMILES writes the atom's H count as it is
    return Chem.MolToSmiles(mol)


def _add_h2(mol: Chem.RWMol, rng) -> str | None:
    doubles = [b for b in mol.GetBonds() if b.GetBondType() == Chem.BondType.DOUBLE]
    if not doubles:
        return None
    b = doubles[int(rng.integers(len(doubles)))]
    i, j = b.GetBeginAtomIdx(), b.GetEndAtomIdx()
    b.SetBondType(Chem.BondType.SINGLE)
    for k in (i, j):
        h = mol.AddAtom(Chem.Atom(1))
        mol.AddBond(k, h, Chem.BondType.SINGLE)
    mol.UpdatePropertyCache(strict=False)
    return Chem.MolToSmiles(mol)


def _extra_bond(mol: Chem.RWMol, rng) -> str | None:
    heavy = _heavy(mol)
    pairs = [(i, j) for i in heavy for j in heavy if i < j and mol.GetBondBetweenAtoms(i, j) is None]
    for k in rng.permutation(len(pairs))[:10]:
        trial = Chem.RWMol(mol)
        trial.AddBond(*pairs[k], Chem.BondType.SINGLE)
        copy = trial.GetMol()
        with rdBase.BlockLogs():
            try:
                Chem.SanitizeMol(copy)
            except Exception:  # noqa: BLE001 - refused valence: what this decoy wants
                return Chem.MolToSmiles(trial)
    return None
