"""Potential energy surfaces for MD generation: RDKit's MMFF94 and, optionally, GFN2-xTB (tblite).

A ``Potential`` maps positions (N, 3) in Å to ``(energy eV, forces (N, 3) eV/Å)``. Each backend
works in its own units (MMFF kcal/mol, tblite Hartree and Bohr); the conversion happens here, once.
"""

from __future__ import annotations

import ctypes
import os
from abc import ABC, abstractmethod

import numpy as np
from ase import units
from rdkit import Chem, rdBase
from rdkit.Chem import rdForceFieldHelpers

from chemnoether.errors import (
    ConfigError,
    InvalidMoleculeError,
    MissingConformerError,
    SimulationError,
)

KCAL_PER_MOL_IN_EV = units.kcal / units.mol  # 1 kcal/mol = 0.0433641 eV
HARTREE_IN_EV = units.Hartree  # 27.2113862 eV
BOHR_IN_ANGSTROM = units.Bohr  # 0.529177211 Å

# MMFF94's elements (organic set plus the ions it types); used only to name the culprit in errors
_MMFF_ELEMENTS = frozenset({"H", "C", "N", "O", "F", "Si", "P", "S", "Cl", "Br", "I", "Li", "Na", "K", "Mg", "Ca", "Fe", "Zn", "Cu"})


class Potential(ABC):
    """Energy and forces of one system with fixed atoms, in chemnoether units (Å, eV, eV/Å)."""

    method: str  # human-readable name recorded in trajectory metadata, e.g. "MMFF94 (RDKit)"
    atomic_numbers: np.ndarray  # (N,) int64

    @abstractmethod
    def energy_forces(self, positions: np.ndarray) -> tuple[float, np.ndarray]:
        """Potential energy (eV) and forces (N, 3) (eV/Å) at ``positions`` (N, 3), Å."""


def _require_hydrogens(mol: Chem.Mol) -> None:
    implicit = [a.GetIdx() for a in mol.GetAtoms() if a.GetTotalNumHs() > 0]
    if implicit:
        raise InvalidMoleculeError(
            f"{Chem.MolToSmiles(mol)}: atoms {implicit[:10]} carry implicit hydrogens; MD needs every "
            "hydrogen as an atom (Chem.AddHs(mol, addCoords=True))"
        )


def mmff_properties(mol: Chem.Mol, smiles: str, advice: str):
    """RDKit's MMFF94 typing of ``mol``, or ``InvalidMoleculeError`` naming the untyped elements and ``advice``."""
    with rdBase.BlockLogs():  # the reason is given in our message, not as RDKit's log line
        properties = rdForceFieldHelpers.MMFFGetMoleculeProperties(mol, mmffVariant="MMFF94")
    if properties is None:
        foreign = sorted({a.GetSymbol() for a in mol.GetAtoms()} - _MMFF_ELEMENTS)
        hint = f" (MMFF94 has no parameters for {', '.join(foreign)})" if foreign else ""
        raise InvalidMoleculeError(f"{smiles}: MMFF94 cannot type this molecule{hint}; {advice}")
    return properties


class MMFFPotential(Potential):
    """RDKit's MMFF94 force field for ``mol`` (explicit hydrogens and a conformer required).

    The conformer only sets up the force field (MMFF's non-bonded pair list, all pairs within
    100 Å); ``energy_forces`` evaluates any positions, in ``mol``'s atom order.
    """

    method = "MMFF94 (RDKit)"

    def __init__(self, mol: Chem.Mol):
        smiles = Chem.MolToSmiles(Chem.RemoveHs(mol, sanitize=False))
        _require_hydrogens(mol)
        if mol.GetNumConformers() == 0:
            raise MissingConformerError(f"{smiles}: MMFFPotential needs a conformer to set up the force field; embed one first")
        properties = mmff_properties(mol, smiles, "use potential='gfn2'")
        # interfragment terms on: a dimer or a solvated molecule must feel its partner
        self._field = rdForceFieldHelpers.MMFFGetMoleculeForceField(mol, properties, ignoreInterfragInteractions=False)
        self.atomic_numbers = np.array([a.GetAtomicNum() for a in mol.GetAtoms()], dtype=np.int64)
        self._n_coords = 3 * mol.GetNumAtoms()

    def energy_forces(self, positions: np.ndarray) -> tuple[float, np.ndarray]:
        # RDKit takes a flat Python sequence; tolist() is the cheapest way in (ndarrays are refused)
        coords = positions.ravel().tolist()
        energy = self._field.CalcEnergy(coords)
        forces = np.fromiter(self._field.CalcGrad(coords), dtype=np.float64, count=self._n_coords)
        forces *= -KCAL_PER_MOL_IN_EV
        return energy * KCAL_PER_MOL_IN_EV, forces.reshape(-1, 3)


def _import_tblite_calculator():
    try:
        from tblite.interface import Calculator  # lazy: optional tblite (extra "xtb")
    except ImportError as err:
        raise ConfigError("potential 'gfn2' needs tblite, an optional dependency: pip install tblite") from err
    return Calculator


def _openmp_runtime():
    """The GNU OpenMP runtime tblite runs on, through ctypes; ``None`` where there is none to reach.

    ``dlopen`` by soname returns the copy already loaded: torch ships its own ``libgomp.so.1`` and,
    imported first, has read OMP_NUM_THREADS already, so tblite shares a runtime that ignores the
    variable set later. Calling ``omp_set_num_threads`` still works.
    """
    try:
        runtime = ctypes.CDLL("libgomp.so.1")
        runtime.omp_get_max_threads.restype = ctypes.c_int
        runtime.omp_set_num_threads.argtypes = [ctypes.c_int]
    except (OSError, AttributeError):
        return None
    return runtime


class GFN2Potential(Potential):
    """Semi-empirical GFN2-xTB through tblite (optional: ``pip install tblite``).

    Each call restarts the SCC from the previous call's wavefunction (fewer SCC iterations); results
    therefore depend on the previous geometry within the SCC tolerance (about 1e-6 eV), which is
    why a resumed GFN2 run is not bit-for-bit the uninterrupted one. ``restart=False`` starts from
    the atomic guess every time. ``accuracy`` scales tblite's SCC thresholds: at the default 1.0
    forces match the energy's finite-difference gradient to about 1e-4 eV/Å, at 0.01 to 2e-6.

    Threads: unless OMP_NUM_THREADS is set, tblite runs on one OpenMP thread, as if it were 1:
    on molecules this small more threads cost far more than they give (2 threads were 6-36x
    slower on a busy 2-core machine, where OpenMP's spinning threads wait for a core). The limit
    is set around each call and restored after, so torch's threads in the same process are
    untouched; where the OpenMP runtime cannot be reached, OMP_NUM_THREADS=1 is set before
    tblite is imported instead (effective only if no OpenMP runtime has started yet).
    """

    method = "GFN2-xTB (tblite)"

    def __init__(self, atomic_numbers, positions: np.ndarray, *, charge: float = 0.0, unpaired_electrons: int = 0, restart: bool = True, accuracy: float = 1.0):
        self._openmp = None
        if "OMP_NUM_THREADS" not in os.environ:
            self._openmp = _openmp_runtime()
            if self._openmp is None:
                os.environ["OMP_NUM_THREADS"] = "1"
        calculator_type = _import_tblite_calculator()
        self.atomic_numbers = np.asarray(atomic_numbers, dtype=np.int64)
        positions = np.asarray(positions, dtype=np.float64)
        self._calculator = calculator_type(
            "GFN2-xTB", self.atomic_numbers, positions / BOHR_IN_ANGSTROM, charge=charge, uhf=unpaired_electrons
        )
        self._calculator.set("verbosity", 0)  # tblite prints every SCC to stdout otherwise
        self._calculator.set("accuracy", float(accuracy))
        self._restart = restart
        self._result = None

    @classmethod
    def from_mol(cls, mol: Chem.Mol, positions: np.ndarray | None = None, **options) -> GFN2Potential:
        """Charge and unpaired electrons from ``mol``'s formal charges and radicals."""
        _require_hydrogens(mol)
        if positions is None:
            if mol.GetNumConformers() == 0:
                raise MissingConformerError(f"{Chem.MolToSmiles(mol)}: GFN2Potential needs positions or a conformer")
            positions = mol.GetConformer().GetPositions()
        charge = sum(a.GetFormalCharge() for a in mol.GetAtoms())
        unpaired = sum(a.GetNumRadicalElectrons() for a in mol.GetAtoms())
        numbers = [a.GetAtomicNum() for a in mol.GetAtoms()]
        return cls(numbers, positions, charge=float(charge), unpaired_electrons=unpaired, **options)

    def energy_forces(self, positions: np.ndarray) -> tuple[float, np.ndarray]:
        self._calculator.update(np.asarray(positions, dtype=np.float64) / BOHR_IN_ANGSTROM)
        openmp = self._openmp
        if openmp is not None:
            threads_before = openmp.omp_get_max_threads()
            openmp.omp_set_num_threads(1)
        try:
            if self._restart and self._result is not None:
                result = self._calculator.singlepoint(self._result)
            else:
                result = self._calculator.singlepoint()
        except Exception as err:  # tblite raises its own runtime error, e.g. when the SCC does not converge
            raise SimulationError(f"GFN2-xTB single point failed ({type(err).__name__}: {err})") from err
        finally:
            if openmp is not None:
                openmp.omp_set_num_threads(threads_before)
        self._result = result
        energy = result.get("energy") * HARTREE_IN_EV
        forces = result.get("gradient") * (-HARTREE_IN_EV / BOHR_IN_ANGSTROM)
        return energy, forces
