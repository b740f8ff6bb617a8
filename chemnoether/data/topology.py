"""The graph of a trajectory's system, built once and reused for every window cut from it.

A ``Topology`` holds the arrays that do not change from frame to frame (features, masses, bonds,
rings, subgraphs, fixed edges) as a template ``GraphParts``. A window then only swaps in its
positions, velocities and targets and calls ``build_graph`` (one graph) or ``build_batched_graph``
(many at once), so making a sample never runs RDKit or a neighbour search again, except for the
radius graph, which by definition follows the atoms.

Three kinds, each optionally restricted to heavy atoms (``heavy_atoms=True`` keeps atoms with
Z > 1, in trajectory order):

``"smiles"``  bonds, rings, subgraphs and RDKit atom features of ``metadata["smiles"]``. The
              trajectory's atoms must be that molecule with explicit hydrogens in RDKit's order
              (``Chem.AddHs``: heavy atoms in SMILES order, then the added hydrogens; explicit
              ``[H]`` atoms of the SMILES keep their place). Elements are compared atom by atom,
              and every bond is checked to be plausibly short in the first frame, which catches
              hydrogens listed in another order. ``cutoff`` adds a per-frame ``near`` radius graph.
``"md17"``    the graph of the GMN / EGNO MD17 benchmark (docs/design.md section 9): atom pairs closer
              than 1.6 Å in the first frame of the trajectory, plus pairs with a common such
              neighbour (2 hops). Stored as **``near`` edges** (both directions, ``edge_shift``
              zero, ``EDGE_HOPS`` 1 or 2), not as ``bond`` edges: they are distance-derived and
              include non-bonded 1-3 pairs, models read geometry from ``near`` edges, and ``bond``
              edges carry RDKit bond features these pairs do not have. The edges are fixed for the
              whole trajectory, as in the benchmark.
``"radius"``  only ``near`` edges, recomputed for every frame at ``cutoff`` (periodic images
              included when the trajectory has a cell and pbc).

``"md17"`` and ``"radius"`` graphs carry the element one-hot of ``featurize.element_one_hot`` as
``node_attrs`` (the first columns of the RDKit features too). Every kind stores the trajectory's
own masses (the ones its dynamics used) and, on the system node, ``cell`` and ``pbc``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from ase.data import chemical_symbols, covalent_radii
from rdkit import Chem, rdBase
from scipy import sparse

from chemnoether import keys
from chemnoether.data.trajectory import Trajectory
from chemnoether.errors import ConfigError, TrajectoryFormatError
from chemnoether.featurize import element_one_hot, molecule_parts, parse_smiles
from chemnoether.featurize.assemble import BatchParts, GraphParts
from chemnoether.featurize.neighbors import checked_cutoff, radius_edges

TOPOLOGY_KINDS = ("smiles", "md17", "radius")
MD17_THRESHOLD = 1.6  # Å, GMN / EGNO
DEFAULT_CUTOFF = 5.0  # Å, docs/design.md section 5
# A bond longer than this many times the sum of covalent radii in the first frame means the
# atoms are not in the SMILES' order (thermal stretching stays far below it).
BOND_TOLERANCE = 1.3
_NUMPY_FLOAT = {torch.float32: np.float32, torch.float64: np.float64}
_SHOWN_ATOMS = 40


@dataclass(eq=False)
class Topology:
    """Static graph of a trajectory's system; ``graph_parts`` / ``batch_parts`` add the frames.

    Attributes:
        kind: one of ``TOPOLOGY_KINDS``.
        atom_index: (n,) trajectory atoms that are graph nodes, in order.
        template: the static ``GraphParts`` (numpy arrays); never handed out, only copied.
        cutoff: radius of the per-frame ``near`` graph, Å; ``None`` for fixed (or no) near edges.
        trajectory_numbers: atomic numbers of all trajectory atoms, to check a reused topology.
    """

    kind: str
    atom_index: np.ndarray
    template: GraphParts
    trajectory_numbers: np.ndarray
    cutoff: float | None = None
    cell: np.ndarray | None = None
    pbc: np.ndarray = field(default_factory=lambda: np.zeros(3, dtype=bool))
    dtype: torch.dtype = torch.float32

    @property
    def num_atoms(self) -> int:
        return len(self.atom_index)

    @property
    def heavy_atoms(self) -> bool:
        """Whether hydrogens were left out (the trajectory has some and none is a node)."""
        return self.num_atoms < len(self.trajectory_numbers)

    def check_trajectory(self, traj: Trajectory) -> None:
        """Refuse a trajectory of another system than the one this topology was built for."""
        if not np.array_equal(traj.atomic_numbers, self.trajectory_numbers):
            raise ConfigError(
                f"this {self.kind!r} topology was built for atoms {_symbols(self.trajectory_numbers)}, "
                f"but {traj._where()} has {_symbols(traj.atomic_numbers)}; build one per system"
            )

    def graph_parts(self, pos: np.ndarray, atom_data: dict, system_data: dict) -> GraphParts:
        """One graph: the template plus ``atom_data`` (N, ...) and ``system_data`` (1, ...).

        ``pos`` (N, 3) is the frame the radius graph is computed on (when there is one).
        """
        parts = self.template.copy()  # copies: graphs must not share memory with each other
        parts.atom_data.update(atom_data)
        parts.system_data.update(system_data)
        if self.cutoff is not None:
            src, dst, shift = self._radius_edges(pos)
            parts.near = (src, dst)
            parts.near_data = {keys.EDGE_SHIFT: shift}
        return parts

    def batch_parts(self, pos: np.ndarray, atom_data: dict, system_data: dict) -> BatchParts:
        """B graphs at once: ``pos`` (B, N, 3), ``atom_data`` (B, N, ...), ``system_data`` (B, ...)."""
        tpl, count = self.template, len(pos)
        sizes = tpl.num_nodes()
        offsets = {t: np.arange(count, dtype=np.int64) * n for t, n in sizes.items()}
        relations, edge_counts = {}, {}
        for etype, (src, dst) in tpl.relations().items():
            src_type, _, dst_type = etype
            src, dst = np.asarray(src, dtype=np.int64), np.asarray(dst, dtype=np.int64)
            relations[etype] = (
                (src[None, :] + offsets[src_type][:, None]).reshape(-1),
                (dst[None, :] + offsets[dst_type][:, None]).reshape(-1),
            )
            edge_counts[etype] = np.full(count, len(src), dtype=np.int64)
        edge_data = {etype: {k: _tile(v, count) for k, v in d.items()} for etype, d in tpl.edge_data().items()}
        if self.cutoff is not None:
            edges = [self._radius_edges(p) for p in pos]
            edge_counts[keys.NEAR] = np.array([len(s) for s, _, _ in edges], dtype=np.int64)
            shift = np.repeat(offsets[keys.ATOM], edge_counts[keys.NEAR])
            relations[keys.NEAR] = (
                np.concatenate([s for s, _, _ in edges]) + shift,
                np.concatenate([d for _, d, _ in edges]) + shift,
            )
            edge_data[keys.NEAR] = {keys.EDGE_SHIFT: np.concatenate([sh for _, _, sh in edges])}
        node_data = {t: {k: _tile(v, count) for k, v in d.items()} for t, d in tpl.node_data().items()}
        node_data[keys.ATOM].update({k: _flatten(v) for k, v in atom_data.items()})
        node_data[keys.SYSTEM].update(system_data)
        node_counts = {t: np.full(count, n, dtype=np.int64) for t, n in sizes.items()}
        return BatchParts(node_counts, edge_counts, relations, node_data, edge_data)

    def _radius_edges(self, pos: np.ndarray):
        src, dst, shift = radius_edges(pos, self.cutoff, self.cell, self.pbc)
        return src, dst, shift.astype(_NUMPY_FLOAT[self.dtype])


def smiles_topology(
    traj: Trajectory,
    *,
    smiles: str | None = None,
    heavy_atoms: bool = False,
    cutoff: float | None = None,
    bond_tolerance: float | None = BOND_TOLERANCE,
    dtype: torch.dtype = torch.float32,
    **molecule_options,
) -> Topology:
    """Bonds, rings, subgraphs and features from the trajectory's SMILES (module docstring).

    Args:
        smiles: the molecule; by default ``traj.metadata["smiles"]``.
        heavy_atoms: drop hydrogens (their count stays in the ``num_hs`` feature).
        cutoff: also a ``near`` radius graph recomputed per frame, Å.
        bond_tolerance: refuse bonds longer than this times the covalent-radius sum in frame 0
            (``None`` skips the check).
        molecule_options: ``rings``, ``subgraphs``, featurizers, as for ``featurize.molecule_parts``.

    Raises:
        TrajectoryFormatError: no SMILES, or atoms that do not match it (naming the first
            mismatch, or the over-long bond).
    """
    _check_dtype(dtype)
    where = traj._where()
    if smiles is None:
        smiles = traj.metadata.get("smiles")
        if not smiles:
            raise TrajectoryFormatError(
                f"{where}: metadata has no 'smiles', so its bonds are unknown; set "
                "traj.metadata['smiles'] (atoms in RDKit's explicit-hydrogen order) or use "
                "graph='md17' or graph='radius'"
            )
    mol = matching_molecule(traj, smiles, bond_tolerance)
    atom_index = np.arange(traj.n_atoms)
    if heavy_atoms:
        mol = Chem.RemoveAllHs(mol)  # keeps the heavy atoms' order
        atom_index = _heavy_atom_index(traj)
    parts = molecule_parts(mol, **molecule_options)
    found = np.asarray(parts.atom_data[keys.ATOMIC_NUMBERS])
    if not np.array_equal(found, traj.atomic_numbers[atom_index]):  # RDKit kept or lost an atom
        raise TrajectoryFormatError(
            f"{where}: the graph of SMILES {smiles!r} has atoms {_symbols(found)}, the trajectory "
            f"{_symbols(traj.atomic_numbers[atom_index])}; check the SMILES"
        )
    parts.near, parts.near_data = None, {}
    return _finish(traj, "smiles", atom_index, parts, cutoff, dtype)


def md17_topology(
    traj: Trajectory,
    *,
    heavy_atoms: bool = False,
    threshold: float = MD17_THRESHOLD,
    dtype: torch.dtype = torch.float32,
) -> Topology:
    """The GMN / EGNO benchmark graph: < ``threshold`` Å in the first frame, plus 2 hops.

    The benchmark uses heavy atoms only (``heavy_atoms=True``); the edges are ``near`` edges with
    ``EDGE_HOPS`` (module docstring). Periodic trajectories are refused: the rule is for molecules.
    """
    _check_dtype(dtype)
    if traj.pbc.any():
        raise ConfigError(
            f"{traj._where()}: graph='md17' is the molecular benchmark graph and ignores periodic "
            f"images; this trajectory has pbc={traj.pbc.tolist()}: use graph='radius'"
        )
    threshold = checked_cutoff(threshold)
    atom_index = _heavy_atom_index(traj) if heavy_atoms else np.arange(traj.n_atoms)
    numbers = traj.atomic_numbers[atom_index]
    src, dst, hops = md17_edges(traj.positions[0, atom_index], threshold)
    parts = GraphParts(num_atoms=len(atom_index), near=(src, dst))
    parts.atom_data = {keys.ATOMIC_NUMBERS: numbers.copy(), keys.NODE_ATTRS: element_one_hot(numbers)}
    parts.near_data = {keys.EDGE_SHIFT: np.zeros((len(src), 3), dtype=_NUMPY_FLOAT[dtype]), keys.EDGE_HOPS: hops}
    return _finish(traj, "md17", atom_index, parts, None, dtype)


def radius_topology(
    traj: Trajectory,
    cutoff: float = DEFAULT_CUTOFF,
    *,
    heavy_atoms: bool = False,
    dtype: torch.dtype = torch.float32,
) -> Topology:
    """Only ``near`` edges, recomputed per frame at ``cutoff`` Å (periodic images included)."""
    _check_dtype(dtype)
    atom_index = _heavy_atom_index(traj) if heavy_atoms else np.arange(traj.n_atoms)
    numbers = traj.atomic_numbers[atom_index]
    parts = GraphParts(num_atoms=len(atom_index))
    parts.atom_data = {keys.ATOMIC_NUMBERS: numbers.copy(), keys.NODE_ATTRS: element_one_hot(numbers)}
    return _finish(traj, "radius", atom_index, parts, checked_cutoff(cutoff), dtype)


def topology_for(
    traj: Trajectory,
    graph: str | Topology,
    *,
    heavy_atoms: bool = False,
    cutoff: float | None = None,
    dtype: torch.dtype = torch.float32,
) -> Topology:
    """The topology ``graph`` names (``TOPOLOGY_KINDS``) for ``traj``, or ``graph`` itself after
    checking that it was built for this system with the same options."""
    if isinstance(graph, Topology):
        graph.check_trajectory(traj)
        if graph.heavy_atoms != bool(heavy_atoms) and (traj.atomic_numbers == 1).any():
            raise ConfigError(
                f"the topology given was built with heavy_atoms={graph.heavy_atoms}, but heavy_atoms="
                f"{heavy_atoms} was asked; build the topology with the same option"
            )
        if cutoff is not None and cutoff != graph.cutoff:
            raise ConfigError(f"cutoff={cutoff} differs from the given topology's ({graph.cutoff}); set it when building the topology")
        if dtype != graph.dtype:
            raise ConfigError(f"dtype={dtype} differs from the given topology's ({graph.dtype}); set it when building the topology")
        return graph
    if graph == "smiles":
        return smiles_topology(traj, heavy_atoms=heavy_atoms, cutoff=cutoff, dtype=dtype)
    if graph == "md17":
        if cutoff is not None:
            raise ConfigError(
                "graph='md17' has fixed near edges (1.6 Å in the first frame plus 2 hops), so cutoff "
                f"must be None, got {cutoff}; use graph='radius' for a radius graph"
            )
        return md17_topology(traj, heavy_atoms=heavy_atoms, dtype=dtype)
    if graph == "radius":
        return radius_topology(traj, DEFAULT_CUTOFF if cutoff is None else cutoff, heavy_atoms=heavy_atoms, dtype=dtype)
    raise ConfigError(f"graph must be one of {TOPOLOGY_KINDS} or a Topology, got {graph!r}")


def md17_edges(positions: np.ndarray, threshold: float = MD17_THRESHOLD) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ordered pairs ``(src, dst, hops)`` of the MD17 benchmark graph of one frame.

    ``hops`` is 1 for pairs closer than ``threshold`` and 2 for other pairs with a common such
    neighbour; both directions, no self-pairs, sorted by ``src`` then ``dst``. (GMN's code would
    list a pair of a 3-ring twice, once per hop count, and then fail an assertion; here it is
    one edge with ``hops = 1``.)
    """
    n = len(positions)
    src1, dst1, _ = radius_edges(positions, threshold)
    adjacency = sparse.csr_matrix((np.ones(len(src1), dtype=np.int64), (src1, dst1)), shape=(n, n))
    two = (adjacency @ adjacency).tocoo()  # counts paths i -> k -> j
    keep = two.row != two.col
    src2, dst2 = two.row[keep].astype(np.int64), two.col[keep].astype(np.int64)
    src = np.concatenate([src1, src2])
    dst = np.concatenate([dst1, dst2])
    hops = np.concatenate([np.ones(len(src1), dtype=np.int64), np.full(len(src2), 2, dtype=np.int64)])
    # one edge per pair, the smallest hop count first; then sorted like radius_edges
    order = np.lexsort((hops, dst, src))
    src, dst, hops = src[order], dst[order], hops[order]
    first = np.ones(len(src), dtype=bool)
    first[1:] = (src[1:] != src[:-1]) | (dst[1:] != dst[:-1])
    return src[first], dst[first], hops[first]


def matching_molecule(traj: Trajectory, smiles: str, bond_tolerance: float | None = BOND_TOLERANCE) -> Chem.Mol:
    """``smiles`` with explicit hydrogens, checked to be the trajectory's atoms in its order."""
    where = traj._where()
    mol = Chem.AddHs(_parse_keeping_hydrogens(smiles))
    expected = np.array([atom.GetAtomicNum() for atom in mol.GetAtoms()], dtype=np.int64)
    found = traj.atomic_numbers
    how = (
        "write the SMILES with its heavy atoms in the trajectory's order and hydrogens last (or as "
        "explicit [H] where the trajectory lists them), or use graph='md17' or graph='radius'"
    )
    if len(expected) != len(found):
        raise TrajectoryFormatError(
            f"{where}: SMILES {smiles!r} with explicit hydrogens has {len(expected)} atoms "
            f"({_symbols(expected)}), the trajectory {len(found)} ({_symbols(found)}); {how}"
        )
    differ = np.flatnonzero(expected != found)
    if differ.size:
        i = int(differ[0])
        raise TrajectoryFormatError(
            f"{where}: atom {i} is {chemical_symbols[found[i]]} in the trajectory but "
            f"{chemical_symbols[expected[i]]} in SMILES {smiles!r} with explicit hydrogens "
            f"(trajectory {_symbols(found)}, SMILES {_symbols(expected)}); {how}"
        )
    if bond_tolerance is not None:
        _check_bond_lengths(mol, traj.positions[0], bond_tolerance, f"{where}: SMILES {smiles!r}")
    return mol


def _parse_keeping_hydrogens(smiles: str) -> Chem.Mol:
    # explicit [H] atoms keep their place in the atom order (the default parser removes them)
    params = Chem.SmilesParserParams()
    params.removeHs = False
    mol = None
    if isinstance(smiles, str):
        with rdBase.BlockLogs():
            mol = Chem.MolFromSmiles(smiles, params)
    return mol if mol is not None else parse_smiles(smiles)  # parse_smiles raises the precise error


def _check_bond_lengths(mol: Chem.Mol, pos: np.ndarray, tolerance: float, what: str) -> None:
    ends = np.array([(b.GetBeginAtomIdx(), b.GetEndAtomIdx()) for b in mol.GetBonds()], dtype=np.int64)
    if not len(ends):
        return
    numbers = np.array([a.GetAtomicNum() for a in mol.GetAtoms()])
    length = np.linalg.norm(pos[ends[:, 0]] - pos[ends[:, 1]], axis=1)
    limit = tolerance * (covalent_radii[numbers[ends[:, 0]]] + covalent_radii[numbers[ends[:, 1]]])
    bad = np.flatnonzero(length > limit)
    if bad.size:
        i, j = ends[bad[0]]
        raise TrajectoryFormatError(
            f"{what}: its bond {i}-{j} ({chemical_symbols[numbers[i]]}-{chemical_symbols[numbers[j]]}) is "
            f"{length[bad[0]]:.2f} Å long in the first frame, over {tolerance} x the covalent radii "
            f"({limit[bad[0]]:.2f} Å), and {bad.size} bond(s) in all: the trajectory lists these atoms in "
            "another order than the SMILES (often the hydrogens); reorder the SMILES, or use graph='md17' or 'radius'"
        )


def _finish(traj, kind, atom_index, parts, cutoff, dtype) -> Topology:
    float_type = _NUMPY_FLOAT[dtype]
    parts.atom_data[keys.MASSES] = traj.masses[atom_index].astype(float_type)
    cell = np.zeros((3, 3)) if traj.cell is None else traj.cell
    parts.system_data[keys.CELL] = cell.astype(float_type).reshape(1, 3, 3)
    parts.system_data[keys.PBC] = traj.pbc.reshape(1, 3).copy()
    return Topology(
        kind=kind,
        atom_index=np.asarray(atom_index, dtype=np.int64),
        template=parts,
        trajectory_numbers=traj.atomic_numbers.copy(),
        cutoff=cutoff,
        cell=traj.cell,
        pbc=traj.pbc.copy(),
        dtype=dtype,
    )


def _heavy_atom_index(traj: Trajectory) -> np.ndarray:
    index = np.flatnonzero(traj.atomic_numbers > 1)
    if not index.size:
        raise ConfigError(f"{traj._where()}: heavy_atoms=True, but every atom is hydrogen")
    return index


def _check_dtype(dtype) -> None:
    if dtype not in _NUMPY_FLOAT:
        raise ConfigError(f"dtype must be torch.float32 or torch.float64, got {dtype!r}")


def _symbols(numbers) -> str:
    shown = " ".join(chemical_symbols[int(z)] for z in numbers[:_SHOWN_ATOMS])
    return shown + (f" ... ({len(numbers)} atoms)" if len(numbers) > _SHOWN_ATOMS else "")


def _tile(value, count: int) -> np.ndarray:
    value = np.asarray(value)
    return np.tile(value, (count,) + (1,) * (value.ndim - 1))


def _flatten(value: np.ndarray) -> np.ndarray:
    """(B, N, ...) per-graph rows to (B * N, ...) batch rows."""
    return value.reshape(-1, *value.shape[2:])
