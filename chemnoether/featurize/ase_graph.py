"""ASE ``Atoms`` to chemnoether graphs (schema in ``chemnoether.keys``).

Node ``i`` is atom ``i`` of the ``Atoms`` object: nothing here reorders atoms. Every graph has the
``near`` radius graph (periodic images included, ``edge_shift`` set) and the ``system`` node with
the cell and pbc. Chemical bonds, rings and subgraphs exist only when ``perceive_bonds=True``,
because an ASE structure carries no bonds.

Units follow ``docs/design.md`` section 4: ASE stores positions in Å, masses in amu, energies in eV and forces in
eV/Å, as chemnoether does, but velocities in Å per ASE time unit; they become Å/fs here.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from ase import Atoms, units

from chemnoether import keys
from chemnoether.errors import (
    ConfigError,
    InvalidStructureError,
    UnsupportedElementError,
)
from chemnoether.featurize.assemble import GraphParts, build_graph
from chemnoether.featurize._perceive_bonds import molecule_from_geometry
from chemnoether.featurize.features import ELEMENT_Z, ELEMENTS
from chemnoether.featurize.neighbors import (
    checked_cutoff,
    index_listing,
    non_finite_rows,
    radius_edges,
)
from chemnoether.featurize.rdkit_graph import molecule_parts
from chemnoether.featurize.subgraphs import SUBGRAPH_KINDS

DEFAULT_SUBGRAPHS = ("functional_groups", "brics")
MAX_ATOMIC_NUMBER = 118  # oganesson; ASE uses 0 for its dummy element "X"

# Column of each atomic number in the element one-hot; unlisted elements go to the last column.
_ELEMENT_COLUMN = np.full(MAX_ATOMIC_NUMBER + 1, len(ELEMENTS), dtype=np.int64)
_ELEMENT_COLUMN[list(ELEMENT_Z)] = np.arange(len(ELEMENTS))


def atoms_to_graph(
    atoms: Atoms,
    cutoff: float = 5.0,
    *,
    perceive_bonds: bool = False,
    charge: int = 0,
    rings: bool = True,
    subgraphs: Sequence[str] = DEFAULT_SUBGRAPHS,
    allow_isolated: bool = False,
    dtype: torch.dtype = torch.float32,
):
    """Featurise an ASE structure into a chemnoether ``dgl.DGLGraph``.

    Atom data: ``atomic_numbers``, ``pos`` (Å), ``masses`` (amu, ``atoms.get_masses()``, so
    custom isotope masses are kept), ``vel`` (Å/fs) only when the atoms have momenta, ``forces``
    (eV/Å, unconstrained) only when present, and ``node_attrs``:

    * ``perceive_bonds=False``: the element one-hot over ``features.ELEMENTS`` plus an "other"
      column, width ``len(ELEMENTS) + 1``. It equals the ``element`` columns of the default atom
      featurizer (which come first), so ``node_attrs[:, :len(ELEMENTS) + 1]`` means the same in
      both modes.
    * ``perceive_bonds=True``: the full default atom featurizer of ``molecule_parts``, plus bond
      edges, ring and subgraph nodes, ``formal_charge`` and ``num_hs``.

    System data: ``cell`` (1, 3, 3), ``pbc`` (1, 3), ``total_charge`` (``charge``), ``energy``
    (eV) only when present. Forces and energy are read from the attached calculator's results if
    those belong to this geometry, else from ``atoms.arrays["forces"]`` / ``atoms.info["energy"]``;
    no calculation is ever started.

    Graphs batch with ``dgl.batch`` only when they carry the same keys, so keep ``perceive_bonds``
    and the presence of velocities, forces and energy the same across a dataset.

    Args:
        cutoff: radius of the ``near`` graph, Å.
        perceive_bonds: perceive bonds from the geometry with RDKit's ``DetermineBonds`` (molecules
            only: refused when any axis is periodic). If bond orders cannot be assigned for
            ``charge``, single bonds are kept with a warning.
        charge: total charge of the structure, e.
        rings, subgraphs: ring incidence, and which subgraph kinds (``"functional_groups"``,
            ``"brics"``; empty for none); used only with ``perceive_bonds=True``.
        allow_isolated: keep atoms with no neighbour inside the cutoff instead of refusing them.
        dtype: floating dtype of positions, velocities, masses, forces, energy, cell and shifts
            (``node_attrs`` and ``total_charge`` are float32, as for RDKit graphs).
    """
    cutoff = checked_cutoff(cutoff)
    _check_options(charge, subgraphs, dtype)
    numbers, pos = _checked_atoms(atoms)
    # copies: the graph must not change when the Atoms object is edited afterwards
    cell, pbc = np.array(atoms.cell.array, dtype=np.float64), np.array(atoms.pbc, dtype=bool)
    if perceive_bonds and pbc.any():
        raise InvalidStructureError(
            f"perceive_bonds=True needs a non-periodic structure, got pbc={pbc.tolist()}: bonds "
            "across periodic boundaries are not perceived. Pass perceive_bonds=False, or set "
            "atoms.pbc = False if the structure is an isolated molecule"
        )

    near_src, near_dst, shift = radius_edges(pos, cutoff, cell, pbc)
    if not allow_isolated:
        _refuse_isolated(near_src, len(numbers), cutoff)

    if perceive_bonds:
        mol = molecule_from_geometry(numbers, pos, charge)
        parts = molecule_parts(mol, rings=rings, subgraphs=tuple(subgraphs or ()))
    else:
        parts = GraphParts(num_atoms=len(numbers))
        parts.atom_data[keys.NODE_ATTRS] = torch.from_numpy(element_one_hot(numbers))

    parts.atom_data[keys.ATOMIC_NUMBERS] = torch.from_numpy(numbers)
    parts.atom_data.update(_atom_physics(atoms, pos, dtype))
    parts.near = (near_src, near_dst)
    parts.near_data = {keys.EDGE_SHIFT: torch.as_tensor(shift, dtype=dtype)}
    parts.system_data = _system_physics(atoms, cell, pbc, charge, dtype)
    return build_graph(parts)


def element_one_hot(numbers: np.ndarray) -> np.ndarray:
    """(N, len(ELEMENTS) + 1) float32 one-hot of atomic numbers 1-118; others in the last column."""
    columns = _ELEMENT_COLUMN[np.asarray(numbers, dtype=np.int64)]
    out = np.zeros((len(columns), len(ELEMENTS) + 1), dtype=np.float32)
    out[np.arange(len(columns)), columns] = 1.0
    return out


def _check_options(charge, subgraphs, dtype) -> None:
    try:
        whole = not isinstance(charge, bool) and float(charge).is_integer()
    except (TypeError, ValueError):
        whole = False
    if not whole:
        raise ConfigError(f"charge must be a whole number of elementary charges, got {charge!r}")
    if isinstance(subgraphs, str):
        raise ConfigError(
            f"subgraphs must be a sequence of kinds, got the string {subgraphs!r}; pass ({subgraphs!r},)"
        )
    unknown = sorted(set(subgraphs or ()) - set(SUBGRAPH_KINDS))
    if unknown:
        raise ConfigError(f"unknown subgraph kinds {unknown}; choose from {SUBGRAPH_KINDS}")
    if not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise ConfigError(f"dtype must be a floating torch dtype such as torch.float32, got {dtype!r}")


def _checked_atoms(atoms) -> tuple[np.ndarray, np.ndarray]:
    """Atomic numbers (int64) and positions (float64, Å), refusing what no graph can hold."""
    if not isinstance(atoms, Atoms):
        raise InvalidStructureError(f"expected an ase.Atoms, got {type(atoms).__name__}")
    if len(atoms) == 0:
        raise InvalidStructureError(
            "the Atoms object has no atoms; pass a structure with at least one atom"
        )
    numbers = np.array(atoms.numbers, dtype=np.int64)  # copies, as below
    unknown = np.flatnonzero((numbers < 1) | (numbers > MAX_ATOMIC_NUMBER))
    if unknown.size:
        raise UnsupportedElementError(
            f"atoms {index_listing(f'{i} (Z={numbers[i]})' for i in unknown)} have atomic numbers outside "
            f"1-{MAX_ATOMIC_NUMBER} (0 is ASE's dummy 'X'); replace them by real elements or delete them"
        )
    pos = np.array(atoms.positions, dtype=np.float64)
    bad = non_finite_rows(pos)
    if bad.size:
        raise InvalidStructureError(
            f"positions of atoms {index_listing(bad)} are NaN or infinite; "
            "fix or delete those atoms before featurising"
        )
    return numbers, pos


def _refuse_isolated(near_src: np.ndarray, num_atoms: int, cutoff: float) -> None:
    isolated = np.flatnonzero(np.bincount(near_src, minlength=num_atoms) == 0)
    if isolated.size:
        raise InvalidStructureError(
            f"atoms {index_listing(isolated)} have no neighbour within cutoff={cutoff} Å; "
            "raise the cutoff, or pass allow_isolated=True to keep them as nodes without near edges"
        )


def _atom_physics(atoms: Atoms, pos: np.ndarray, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    data = {
        keys.POS: torch.as_tensor(pos, dtype=dtype),
        keys.MASSES: torch.as_tensor(atoms.get_masses(), dtype=dtype),
    }
    if atoms.has("momenta"):
        # one fs is units.fs ASE time units, so (Å per ASE time unit) * units.fs = Å/fs
        velocities = atoms.get_velocities() * units.fs
        data[keys.VEL] = torch.as_tensor(_finite_rows(velocities, "velocities", len(atoms)), dtype=dtype)
    forces = _calculator_result(atoms, "forces")
    if forces is None and "forces" in atoms.arrays:
        forces = atoms.arrays["forces"]
    if forces is not None:
        data[keys.FORCES] = torch.as_tensor(_finite_rows(forces, "forces", len(atoms)), dtype=dtype)
    return data


def _system_physics(atoms, cell, pbc, charge, dtype) -> dict[str, torch.Tensor]:
    data = {
        keys.CELL: torch.as_tensor(cell, dtype=dtype).reshape(1, 3, 3),
        keys.PBC: torch.as_tensor(pbc, dtype=torch.bool).reshape(1, 3),
        keys.TOTAL_CHARGE: torch.tensor([float(charge)], dtype=torch.float32),
    }
    energy = _calculator_result(atoms, "energy")
    if energy is None:
        energy = atoms.info.get("energy")
    if energy is not None:
        data[keys.ENERGY] = torch.tensor([float(energy)], dtype=dtype)
    return data


def _calculator_result(atoms: Atoms, name: str):
    """A stored calculator result for this very geometry, or None; never starts a calculation."""
    calc = atoms.calc
    if calc is None or name not in getattr(calc, "results", {}):
        return None
    # Results computed for another geometry (atoms moved since) do not describe this one.
    if calc.check_state(atoms):
        return None
    return calc.results[name]


def _finite_rows(values, what: str, num_atoms: int) -> np.ndarray:
    array = np.array(values, dtype=np.float64)  # a copy: calculator results may change later
    if array.shape != (num_atoms, 3):
        raise InvalidStructureError(
            f"{what} must have shape ({num_atoms}, 3), one row per atom, got {array.shape}"
        )
    bad = non_finite_rows(array)
    if bad.size:
        raise InvalidStructureError(
            f"{what} of atoms {index_listing(bad)} are NaN or infinite; "
            f"fix them or remove {what} from the Atoms"
        )
    return array
