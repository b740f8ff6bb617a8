"""The MMFF94 terms of one molecule as index and parameter tensors, read from RDKit once.

Which bonds, angles, torsions... exist, and which atom pairs interact non-bonded, follows RDKit's
MMFF builder (``MMFFGetMoleculeForceField``) rule for rule, so that the torch energy in
``chemnoether.simulation.torch_mmff`` is RDKit's energy; the parameters come from RDKit's
``MMFFMolProperties`` getters. Units are MMFF's own: Å, degrees, md/Å (bond ``kb``), md·Å/rad²
(angle ``ka`` and ``koop``), md/rad (stretch-bend), kcal/mol (``V1..V3``, vdW well depth).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from itertools import combinations

import numpy as np
import torch
from rdkit import Chem

from chemnoether.simulation.potentials import _require_hydrogens, mmff_properties
from chemnoether.errors import MissingConformerError

# Atom types whose 'lin' flag is set in MMFFPROP.PAR (C in C#X or =C=, N in =N=, isonitrile N):
# their angles use the linear form and carry no stretch-bend. RDKit's Python API does not expose
# the flag, hence the copy of that column here.
LINEAR_MMFF_TYPES = frozenset({4, 53, 61})
# RDKit builds torsions only about bonds matching this (no triple bonds, no terminal atoms)
_TORSION_BOND = Chem.MolFromSmarts("[!$(*#*)&!D1]~[!$(*#*)&!D1]")
_TORSION_HYBRIDIZATIONS = (Chem.HybridizationType.SP2, Chem.HybridizationType.SP3)
_ELE_1_4_SCALE = 0.75  # MMFF scales 1-4 electrostatics (not vdW)
_COULOMB = 332.0716  # kcal/mol Å / e², MMFF's own value
_DISTANCE_DIELECTRIC = 2  # RDKit's MMFF dielectric models: 1 constant (D), 2 distance-dependent (D r)


@dataclass
class MMFFTerms:
    """Index (int64, rows of atom ids) and parameter (float64) tensors of every MMFF94 term.

    Build with ``MMFFTerms.from_mol``; move or cast with ``.to(device, dtype)`` (floating tensors
    only). Each family is ``<name>_index`` (T, k) plus its parameters (T,) or (T, 2/3).
    """

    num_atoms: int
    atomic_numbers: torch.Tensor  # (N,)
    bond_index: torch.Tensor  # (T, 2)
    bond_kb: torch.Tensor  # md/Å
    bond_r0: torch.Tensor  # Å
    angle_index: torch.Tensor  # (T, 3), centre in the middle; non-linear centres
    angle_ka: torch.Tensor  # md Å / rad²
    angle_theta0: torch.Tensor  # degrees
    linear_index: torch.Tensor  # (T, 3), angles about a linear centre: E = 143.9325 ka (1 + cos θ)
    linear_ka: torch.Tensor
    stbn_index: torch.Tensor  # (T, 3)
    stbn_k: torch.Tensor  # (T, 2) kba_IJK, kba_KJI, md/rad
    stbn_r0: torch.Tensor  # (T, 2) r0 of I-J and K-J, Å
    stbn_theta0: torch.Tensor  # degrees
    oop_index: torch.Tensor  # (T, 4) I, J (centre), K, L (the atom out of the IJK plane)
    oop_koop: torch.Tensor  # md Å / rad²
    torsion_index: torch.Tensor  # (T, 4)
    torsion_v: torch.Tensor  # (T, 3) V1, V2, V3, kcal/mol
    vdw_index: torch.Tensor  # (T, 2)
    vdw_rstar: torch.Tensor  # Å
    vdw_epsilon: torch.Tensor  # kcal/mol
    ele_index: torch.Tensor  # (T, 2)
    ele_coefficient: torch.Tensor  # 332.0716 q_i q_j / D (x 0.75 for 1-4 pairs), kcal/mol Å
    ele_distance_dependent: bool = False  # dielectric model D r instead of D

    @classmethod
    def from_mol(cls, mol: Chem.Mol, properties=None, *, nonbonded_threshold: float = 100.0, conformer_id: int = -1) -> MMFFTerms:
        """Terms of ``mol`` (explicit hydrogens and a conformer required), as RDKit's MMFF94 builds them.

        ``properties``: an ``MMFFMolProperties`` of ``mol`` whose term switches
        (``SetMMFFBondTerm(False)``...) and dielectric settings are honoured; by default MMFF94
        with every term, constant dielectric 1. The conformer only selects the non-bonded pairs
        (closer than ``nonbonded_threshold`` Å there), as ``MMFFGetMoleculeForceField`` does;
        inter-fragment pairs are always included (``ignoreInterfragInteractions=False``).
        """
        return _build(mol, properties, nonbonded_threshold, conformer_id)

    def to(self, device=None, dtype: torch.dtype | None = None) -> MMFFTerms:
        """A copy on ``device`` with floating tensors cast to ``dtype`` (when given)."""
        moved = {}
        for field in fields(self):
            value = getattr(self, field.name)
            if isinstance(value, torch.Tensor):
                cast = dtype if (dtype is not None and value.is_floating_point()) else None
                moved[field.name] = value.to(device=device, dtype=cast)
        return replace(self, **moved)

    @property
    def device(self) -> torch.device:
        return self.bond_kb.device

    @property
    def dtype(self) -> torch.dtype:
        return self.bond_kb.dtype


def _index(rows, width: int) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.int64).reshape(-1, width)


def _values(rows, width: int | None = None) -> torch.Tensor:
    values = torch.tensor(rows, dtype=torch.float64)
    return values.reshape(-1, width) if width else values.reshape(-1)


def _bond_terms(mol, props):
    index, kb, r0 = [], [], []
    for bond in mol.GetBonds():
        i, j = bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()
        params = props.GetMMFFBondStretchParams(mol, i, j)
        if params is not None:
            index.append((i, j))
            kb.append(params[1])
            r0.append(params[2])
    return {"bond_index": _index(index, 2), "bond_kb": _values(kb), "bond_r0": _values(r0)}


def _neighbour_pairs(atom):
    """(i, k) for each pair of neighbours of ``atom``, in RDKit's neighbour order (as the builder)."""
    neighbours = [n.GetIdx() for n in atom.GetNeighbors()]
    return combinations(neighbours, 2)


def _angle_terms(mol, props, types, use_angle: bool, use_stbn: bool):
    angles, linear, stbn = ([], [], []), ([], []), ([], [], [], [])
    for atom in mol.GetAtoms():
        j = atom.GetIdx()
        is_linear = types[j] in LINEAR_MMFF_TYPES
        for i, k in _neighbour_pairs(atom):
            angle = props.GetMMFFAngleBendParams(mol, i, j, k)
            if use_angle and angle is not None:
                target = linear if is_linear else angles
                target[0].append((i, j, k))
                target[1].append(angle[1])
                if not is_linear:
                    angles[2].append(angle[2])
            if not use_stbn or is_linear:
                continue
            stretch_bend = props.GetMMFFStretchBendParams(mol, i, j, k)
            bond_ij, bond_kj = props.GetMMFFBondStretchParams(mol, i, j), props.GetMMFFBondStretchParams(mol, k, j)
            if stretch_bend is None or angle is None or bond_ij is None or bond_kj is None:
                continue
            stbn[0].append((i, j, k))
            stbn[1].append(stretch_bend[1:3])
            stbn[2].append((bond_ij[2], bond_kj[2]))
            stbn[3].append(angle[2])
    return {
        "angle_index": _index(angles[0], 3), "angle_ka": _values(angles[1]), "angle_theta0": _values(angles[2]),
        "linear_index": _index(linear[0], 3), "linear_ka": _values(linear[1]),
        "stbn_index": _index(stbn[0], 3), "stbn_k": _values(stbn[1], 2), "stbn_r0": _values(stbn[2], 2),
        "stbn_theta0": _values(stbn[3]),
    }


def _oop_terms(mol, props):
    index, koop = [], []
    for atom in mol.GetAtoms():
        if atom.GetDegree() != 3:
            continue
        j = atom.GetIdx()
        a, b, c = (n.GetIdx() for n in atom.GetNeighbors())
        k = props.GetMMFFOopBendParams(mol, a, j, b, c)
        if k is None:  # RDKit drops the centre when it has no parameters
            continue
        # each neighbour in turn is the out-of-plane atom L, one force constant for all three
        index += [(a, j, b, c), (a, j, c, b), (b, j, c, a)]
        koop += [k, k, k]
    return {"oop_index": _index(index, 4), "oop_koop": _values(koop)}


def _torsion_terms(mol, props):
    index, v = [], []
    # default maxMatches (1000) as RDKit's builder, which uses SubstructMatch's defaults too
    for j, k in mol.GetSubstructMatches(_TORSION_BOND):
        atom_j, atom_k = mol.GetAtomWithIdx(j), mol.GetAtomWithIdx(k)
        if atom_j.GetHybridization() not in _TORSION_HYBRIDIZATIONS or atom_k.GetHybridization() not in _TORSION_HYBRIDIZATIONS:
            continue
        for i in (n.GetIdx() for n in atom_j.GetNeighbors()):
            if i == k:
                continue
            for l in (n.GetIdx() for n in atom_k.GetNeighbors()):
                if l in (j, i):  # l == i: a three-membered ring
                    continue
                params = props.GetMMFFTorsionParams(mol, i, j, k, l)
                if params is not None:
                    index.append((i, j, k, l))
                    v.append(params[1:4])
    return {"torsion_index": _index(index, 4), "torsion_v": _values(v, 3)}


def _nonbonded_pairs(mol, conformer_id: int, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (i < j) 3 or more bonds apart (or in different fragments) and within ``threshold`` Å
    at the conformer, and whether each is a 1-4 pair.

    RDKit's neighbour matrix classes a pair by its shortest bond path (1-2, 1-3, 1-4, further);
    only 1-4 and further pairs interact.
    """
    hops = Chem.GetDistanceMatrix(mol)  # disconnected pairs get a huge value
    xyz = mol.GetConformer(conformer_id).GetPositions()
    i, j = np.triu_indices(mol.GetNumAtoms(), k=1)
    within = np.linalg.norm(xyz[i] - xyz[j], axis=1) <= threshold
    keep = (hops[i, j] >= 3) & within
    return np.stack([i[keep], j[keep]], axis=1), hops[i[keep], j[keep]] == 3


def _nonbonded_terms(mol, props, pairs, one_four, use_vdw: bool, use_ele: bool):
    vdw_index, rstar, epsilon = [], [], []
    if use_vdw:
        for i, j in pairs.tolist():
            params = props.GetMMFFVdWParams(i, j)
            if params is not None:
                vdw_index.append((i, j))
                rstar.append(params[2])  # the scaled R*_ij and epsilon_ij, as the builder uses
                epsilon.append(params[3])
    ele_index, coefficient = [], []
    if use_ele:
        charges = [props.GetMMFFPartialCharge(a) for a in range(mol.GetNumAtoms())]
        dielectric = props.GetMMFFDielectricConstant()
        for (i, j), is_1_4 in zip(pairs.tolist(), one_four.tolist(), strict=True):
            if abs(charges[i]) < 1e-10 or abs(charges[j]) < 1e-10:  # RDKit skips neutral atoms
                continue
            ele_index.append((i, j))
            coefficient.append(_COULOMB * charges[i] * charges[j] / dielectric * (_ELE_1_4_SCALE if is_1_4 else 1.0))
    return {
        "vdw_index": _index(vdw_index, 2), "vdw_rstar": _values(rstar), "vdw_epsilon": _values(epsilon),
        "ele_index": _index(ele_index, 2), "ele_coefficient": _values(coefficient),
    }


def _build(mol: Chem.Mol, properties, threshold: float, conformer_id: int) -> MMFFTerms:
    smiles = Chem.MolToSmiles(Chem.RemoveHs(mol, sanitize=False))
    _require_hydrogens(mol)
    if mol.GetNumConformers() == 0:
        raise MissingConformerError(f"{smiles}: the torch MMFF energy needs a conformer to set up the force field; embed one first")
    # MMFF typing re-perceives aromaticity on the molecule it is given: work on a copy
    mol = Chem.Mol(mol)
    props = properties if properties is not None else mmff_properties(
        mol, smiles, "the torch MMFF energy needs MMFF94 types"
    )
    types = [props.GetMMFFAtomType(a) for a in range(mol.GetNumAtoms())]
    pairs, one_four = _nonbonded_pairs(mol, conformer_id, threshold)
    parts = {
        **(_bond_terms(mol, props) if props.GetMMFFBondTerm() else _bond_terms_empty()),
        **_angle_terms(mol, props, types, props.GetMMFFAngleTerm(), props.GetMMFFStretchBendTerm()),
        **(_oop_terms(mol, props) if props.GetMMFFOopTerm() else {"oop_index": _index([], 4), "oop_koop": _values([])}),
        **(_torsion_terms(mol, props) if props.GetMMFFTorsionTerm() else {"torsion_index": _index([], 4), "torsion_v": _values([], 3)}),
        **_nonbonded_terms(mol, props, pairs, one_four, props.GetMMFFVdWTerm(), props.GetMMFFEleTerm()),
    }
    atomic_numbers = torch.tensor([a.GetAtomicNum() for a in mol.GetAtoms()], dtype=torch.int64)
    distance_dependent = props.GetMMFFDielectricModel() == _DISTANCE_DIELECTRIC
    return MMFFTerms(num_atoms=mol.GetNumAtoms(), atomic_numbers=atomic_numbers, ele_distance_dependent=distance_dependent, **parts)


def _bond_terms_empty():
    return {"bond_index": _index([], 2), "bond_kb": _values([]), "bond_r0": _values([])}
