"""Bonds of a molecule from its 3D geometry, as a sanitised RDKit molecule in the input's atom order.

RDKit's ``DetermineBonds`` (the xyz2mol method of Kim and Kim 2015) first connects atoms closer
than their scaled covalent radii, then finds bond orders and formal charges that add up to the
total charge. The second step fails for radicals, for a wrong total charge and for many metal
complexes; connectivity alone is still useful then, so the fallback keeps it (every bond single)
and says so with a warning rather than dropping the structure.
"""

from __future__ import annotations

import warnings

import numpy as np
from rdkit import Chem, rdBase
from rdkit.Chem import rdDetermineBonds
from rdkit.Geometry import Point3D

from chemnoether.errors import InvalidStructureError


def molecule_from_geometry(numbers: np.ndarray, positions: np.ndarray, charge: int) -> Chem.Mol:
    """A sanitised molecule with bonds perceived from ``positions`` (Å); atom ``i`` is input ``i``.

    Warns (UserWarning) and keeps single bonds when bond orders cannot be assigned for ``charge``.
    """
    mol = _bare_molecule(numbers, positions)
    with rdBase.BlockLogs():  # the exception or the warning below carries RDKit's reason
        try:
            rdDetermineBonds.DetermineBonds(mol, charge=int(charge))
            return mol
        except Exception as err:  # noqa: BLE001 - RDKit raises several unrelated types here
            reason = f"{type(err).__name__}: {err}"

        mol = _bare_molecule(numbers, positions)
        try:
            rdDetermineBonds.DetermineConnectivity(mol)
            Chem.SanitizeMol(mol)
        except Exception as err:  # noqa: BLE001 - as above
            raise InvalidStructureError(
                f"could not perceive bonds of the {len(numbers)}-atom structure "
                f"({type(err).__name__}: {err}); pass perceive_bonds=False to use the radius graph only"
            ) from None
    warnings.warn(
        f"could not assign bond orders to the {len(numbers)}-atom structure with total charge {charge} "
        f"({reason}); kept the connectivity only: every bond is single and atoms with unfilled "
        "valences carry radical electrons. If the structure is an ion, pass its total charge as charge=",
        UserWarning,
        stacklevel=3,
    )
    return mol


def _bare_molecule(numbers: np.ndarray, positions: np.ndarray) -> Chem.Mol:
    """Atoms and one conformer, no bonds yet."""
    editable = Chem.RWMol()
    for z in numbers:
        editable.AddAtom(Chem.Atom(int(z)))
    conformer = Chem.Conformer(len(numbers))
    for i, (x, y, z) in enumerate(np.asarray(positions, dtype=np.float64)):
        conformer.SetAtomPosition(i, Point3D(float(x), float(y), float(z)))
    mol = editable.GetMol()
    mol.AddConformer(conformer, assignId=True)
    return mol
