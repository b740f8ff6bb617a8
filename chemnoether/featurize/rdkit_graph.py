"""RDKit molecules and SMILES to chemnoether graphs (schema in ``chemnoether.keys``).

Node ``i`` of the graph is atom ``i`` of the molecule as given (after hydrogen removal, which
keeps the heavy atoms' order), and positions always come from that same atom: nothing here
renumbers atoms. (DGL-LifeSci's 3D builder renumbers atoms canonically for the features but not for
the coordinates.)
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import chain

import numpy as np
from rdkit import Chem, rdBase

from chemnoether import keys
from chemnoether.errors import ChemNoetherError, GraphFormatError, InvalidMoleculeError
from chemnoether.featurize import features
from chemnoether.featurize.assemble import BatchParts, GraphParts, build_graph
from chemnoether.featurize.mol_prep import (  # noqa: F401 - re-exported: part of this module's API
    DEFAULT_SUBGRAPHS,
    MolOptions,
    describe,
    float_dtype_of,
    mol_options,
    parse_smiles,
    prepare_mol,
)
from chemnoether.featurize.features import (
    DEFAULT_ATOM_FEATURIZER,
    DEFAULT_BOND_FEATURIZER,
    Featurizer,
)
from chemnoether.featurize.neighbors import radius_edges
from chemnoether.featurize.subgraphs import (
    ring_incidence,
    ring_list,
    subgraph_incidence,
)


def molecules_batch(
    mols: Sequence[Chem.Mol],
    positions: Sequence[np.ndarray] | None = None,
    *,
    cutoff: float | None = None,
    float_dtype: type = np.float32,
    rings: bool = True,
    subgraphs: Sequence[str] = DEFAULT_SUBGRAPHS,
    atom_featurizer: Featurizer = DEFAULT_ATOM_FEATURIZER,
    bond_featurizer: Featurizer = DEFAULT_BOND_FEATURIZER,
) -> BatchParts:
    """Topology, features and (optionally) geometry of sanitised molecules, as one ``BatchParts``.

    Features are computed over the atoms (and bonds) of all ``mols`` at once: the per-feature
    numpy work then happens once per call instead of once per molecule, which is most of the cost
    for small molecules.
    """
    if not mols:
        raise GraphFormatError("molecules_batch needs at least one molecule")
    # index loops: RDKit's GetAtoms()/GetBonds() iterators are pure Python and several times slower
    atoms = list(chain.from_iterable(map(m.GetAtomWithIdx, range(m.GetNumAtoms())) for m in mols))
    bonds = list(chain.from_iterable(map(m.GetBondWithIdx, range(m.GetNumBonds())) for m in mols))
    n_atoms = np.array([m.GetNumAtoms() for m in mols], dtype=np.int64)
    n_bonds = np.array([m.GetNumBonds() for m in mols], dtype=np.int64)
    first_atom = np.cumsum(n_atoms) - n_atoms
    ends = np.stack([_ints(Chem.Bond.GetBeginAtomIdx, bonds), _ints(Chem.Bond.GetEndAtomIdx, bonds)], axis=1)
    ends += np.repeat(first_atom, n_bonds)[:, None]
    rings_of = _RingBlock(mols, n_atoms, n_bonds) if rings else None

    # what the graph already tells costs nothing: degrees from the bonds, ring flags from the rings
    given_atom = {features.degree.name: np.bincount(ends.reshape(-1), minlength=len(atoms)).tolist()}
    given_bond = {}
    if rings_of is not None:
        given_atom[features.in_ring.name] = rings_of.atom_in_ring(len(atoms)).tolist()
        given_bond[features.bond_in_ring.name] = rings_of.bond_in_ring(len(bonds)).tolist()
    kept = (features.element, features.formal_charge, features.num_hs, features.mass)
    node_attrs, raw = atom_featurizer.encode(atoms, keep=kept, given=given_atom)
    charges = _raw_or_ints(raw, features.formal_charge, Chem.Atom.GetFormalCharge, atoms)
    masses = raw[features.mass.name] if features.mass.name in raw else list(map(Chem.Atom.GetMass, atoms))
    atom_data = {
        keys.ATOMIC_NUMBERS: _raw_or_ints(raw, features.element, Chem.Atom.GetAtomicNum, atoms),
        keys.NODE_ATTRS: node_attrs,
        keys.FORMAL_CHARGE: charges,
        keys.NUM_HS: _raw_or_ints(raw, features.num_hs, features.num_hs.fn, atoms),
        keys.MASSES: np.asarray(masses, dtype=float_dtype),
    }
    bond_attrs, bond_raw = bond_featurizer.encode(bonds, keep=(features.bond_type,), given=given_bond)
    # RDKit's GetBondTypeAsDouble: 1, 1.5 (aromatic), 2, 3; dative bonds count 1, exotic types 0
    types = bond_raw.get(features.bond_type.name) or list(map(Chem.Bond.GetBondType, bonds))
    order = np.fromiter(map(_BOND_ORDER.__getitem__, types), dtype=np.float32, count=len(bonds))
    # both directions of bond k sit at rows 2k and 2k+1
    relations = {keys.BOND: (ends.reshape(-1), ends[:, ::-1].reshape(-1))}
    edge_data = {
        keys.BOND: {keys.EDGE_ATTRS: np.repeat(bond_attrs, 2, axis=0), keys.BOND_ORDER: np.repeat(order, 2)},
        keys.NEAR: {},
        keys.IN_RING: {},
        keys.IN_SUBGRAPH: {},
    }
    edge_counts = {keys.BOND: 2 * n_bonds}
    node_counts = {keys.ATOM: n_atoms, keys.SYSTEM: np.ones(len(mols), dtype=np.int64)}
    node_data = {
        keys.ATOM: atom_data,
        keys.RING: {},
        keys.SUBGRAPH: {},
        keys.SYSTEM: {keys.TOTAL_CHARGE: np.add.reduceat(charges, first_atom).astype(np.float32)},
    }
    ring_lists = rings_of.atom_rings if rings_of is not None else [() for _ in mols]
    if rings_of is not None:
        node_data[keys.RING] = {
            keys.RING_SIZE: np.array([len(r) for rs in ring_lists for r in rs], dtype=np.int64),
            keys.RING_AROMATIC: rings_of.aromatic((order == 1.5).tolist()),
        }
    relations[keys.IN_RING], node_counts[keys.RING], edge_counts[keys.IN_RING] = _incidence(
        [ring_incidence(rs) for rs in ring_lists], [len(rs) for rs in ring_lists], n_atoms
    )

    members = [subgraph_incidence(m, tuple(subgraphs)) if subgraphs else (_NONE, _NONE, _NONE) for m in mols]
    relations[keys.IN_SUBGRAPH], node_counts[keys.SUBGRAPH], edge_counts[keys.IN_SUBGRAPH] = _incidence(
        [(a, s) for a, s, _ in members], [len(t) for _, _, t in members], n_atoms
    )
    if subgraphs:
        node_data[keys.SUBGRAPH] = {keys.SUBGRAPH_TYPE: np.concatenate([t for _, _, t in members])}

    near = [(_NONE, _NONE)] * len(mols)
    if positions is not None:
        atom_data[keys.POS] = np.concatenate(positions).astype(float_dtype, copy=False)
        if cutoff is not None:
            edges = [radius_edges(p, cutoff) for p in positions]
            near = [(s, d) for s, d, _ in edges]
            edge_data[keys.NEAR] = {keys.EDGE_SHIFT: np.concatenate([sh for _, _, sh in edges]).astype(float_dtype)}
    relations[keys.NEAR], _, edge_counts[keys.NEAR] = _incidence(near, n_atoms, n_atoms)
    return BatchParts(node_counts, edge_counts, relations, node_data, edge_data)


_NONE = np.zeros(0, dtype=np.int64)


class _RingBlock:
    """The rings of a list of molecules, as atom and bond index lists with batch-global ids."""

    def __init__(self, mols: Sequence[Chem.Mol], n_atoms: np.ndarray, n_bonds: np.ndarray):
        self.atom_rings = [ring_list(m) for m in mols]
        # BondRings only where there are rings: RDKit builds tuples even for none
        self.bond_rings = [m.GetRingInfo().BondRings() if rs else () for m, rs in zip(mols, self.atom_rings, strict=True)]
        self.first_atom = (np.cumsum(n_atoms) - n_atoms).tolist()
        self.first_bond = (np.cumsum(n_bonds) - n_bonds).tolist()

    def atom_in_ring(self, total_atoms: int) -> np.ndarray:
        flags = np.zeros(total_atoms, dtype=bool)
        flags[[a0 + a for a0, rs in zip(self.first_atom, self.atom_rings, strict=True) for r in rs for a in r]] = True
        return flags

    def bond_in_ring(self, total_bonds: int) -> np.ndarray:
        flags = np.zeros(total_bonds, dtype=bool)
        flags[[b0 + b for b0, rs in zip(self.first_bond, self.bond_rings, strict=True) for r in rs for b in r]] = True
        return flags

    def aromatic(self, bond_aromatic: list[bool]) -> np.ndarray:
        """Per ring: every bond of the ring is aromatic."""
        return np.array(
            [all(bond_aromatic[b0 + b] for b in r) for b0, rs in zip(self.first_bond, self.bond_rings, strict=True) for r in rs],
            dtype=bool,
        )


def _incidence(pairs, group_counts, n_atoms):
    """Concatenate per-molecule (atom, group) pairs, offsetting both ids to batch-global ones."""
    group_counts = np.asarray(group_counts, dtype=np.int64)
    sizes = np.array([len(a) for a, _ in pairs], dtype=np.int64)
    atom_off = np.repeat(np.cumsum(n_atoms) - n_atoms, sizes)
    group_off = np.repeat(np.cumsum(group_counts) - group_counts, sizes)
    atoms = np.concatenate([a for a, _ in pairs]).astype(np.int64, copy=False) + atom_off
    groups = np.concatenate([g for _, g in pairs]).astype(np.int64, copy=False) + group_off
    return (atoms, groups), group_counts, sizes


def molecule_parts(mol: Chem.Mol, **options) -> GraphParts:
    """Topology and features of one sanitised molecule (no positions)."""
    return molecules_batch([mol], **options).graph_parts(0)


def mols_to_batch(prepared: Sequence[tuple[Chem.Mol, np.ndarray | None]], options: MolOptions) -> BatchParts:
    """``BatchParts`` of molecules returned by ``prepare_mol`` with the same ``options``."""
    mols = [m for m, _ in prepared]
    positions = [p for _, p in prepared] if options.positions is not None else None
    return molecules_batch(
        mols, positions, cutoff=options.cutoff, float_dtype=float_dtype_of(options), **options.feature_options()
    )


def mol_to_parts(mol: Chem.Mol, **options) -> GraphParts:
    """Validate and featurise an RDKit molecule into ``GraphParts``; options as ``mol_to_graph``."""
    opts = mol_options(options)
    try:
        with rdBase.BlockLogs():  # RDKit's log would repeat what the exception says
            prepared = prepare_mol(mol, opts)
            return mols_to_batch([prepared], opts).graph_parts(0)
    except (RuntimeError, ValueError) as err:
        if isinstance(err, ChemNoetherError):
            raise
        raise InvalidMoleculeError(
            f"RDKit could not featurise {describe(mol)} ({type(err).__name__}: {err}); "
            "if the molecule was built without sanitisation, call Chem.SanitizeMol on it first"
        ) from None


def mol_to_graph(mol: Chem.Mol, **options):
    """Featurise an RDKit molecule into a chemnoether ``dgl.DGLGraph``.

    Args (keyword only):
        explicit_hydrogens: hydrogens as nodes (added with ``Chem.AddHs``); by default they are
            implicit (removed if present) and counted in ``num_hs`` and the ``num_hs`` feature.
        positions: ``None`` (no 3D), ``"conformer"`` (from conformer ``conformer_id``; required),
            or ``"embed"`` (ETKDGv3 with ``seed``, on the molecule with hydrogens).
        cutoff: with positions, also add the ``near`` radius graph (Å).
        rings, subgraphs: ring incidence, and which subgraph kinds (``"functional_groups"``,
            ``"brics"``; empty for none).
        unknown_elements: ``"error"`` or ``"other"`` (the one-hot's other slot).
        metals: ``"keep"`` or ``"error"``.
        fragments: disconnected species: ``"keep"``, ``"largest"`` or ``"error"``.
        atom_featurizer, bond_featurizer: ``features.Featurizer`` instances.
        dtype: floating dtype of positions and masses.
    """
    return build_graph(mol_to_parts(mol, **options))


def smiles_to_parts(smiles: str, **options) -> GraphParts:
    """Parse ``smiles`` and featurise it into ``GraphParts``; options as for ``mol_to_graph``."""
    try:
        return mol_to_parts(parse_smiles(smiles), **options)
    except InvalidMoleculeError as err:
        if repr(smiles) in str(err):
            raise
        raise type(err)(f"SMILES {smiles!r}: {err}") from None


def _raw_or_ints(raw: dict, feature, getter, items: list) -> np.ndarray:
    """A feature's raw values if the featurizer kept them, else asked of RDKit."""
    if feature.name in raw:
        return np.asarray(raw[feature.name], dtype=np.int64)
    return _ints(getter, items)


def _bond_order_table() -> dict:
    """RDKit's GetBondTypeAsDouble for every bond type, read once off a two-atom molecule."""
    table = {}
    with rdBase.BlockLogs():
        for bond_type in Chem.BondType.values.values():
            mol = Chem.RWMol()
            mol.AddAtom(Chem.Atom(6))
            mol.AddAtom(Chem.Atom(6))
            mol.AddBond(0, 1, bond_type)
            try:
                table[bond_type] = mol.GetBondWithIdx(0).GetBondTypeAsDouble()
            except RuntimeError:  # exotic types (OTHER, UNSPECIFIED...) have no order in RDKit
                table[bond_type] = 0.0
    return table


_BOND_ORDER = _bond_order_table()


def _ints(getter, items: list) -> np.ndarray:
    # map() keeps the loop over RDKit objects in C
    return np.fromiter(map(getter, items), dtype=np.int64, count=len(items))


def smiles_to_graph(smiles: str, **options):
    """Parse ``smiles`` and featurise it into a ``dgl.DGLGraph``; options as for ``mol_to_graph``."""
    return build_graph(smiles_to_parts(smiles, **options))
