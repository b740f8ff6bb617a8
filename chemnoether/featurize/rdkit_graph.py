"""RDKit molecules and SMILES to chemnoether graphs (schema in ``chemnoether.keys``).

Node ``i`` of the graph is atom ``i`` of the molecule as given (after hydrogen removal, which
keeps the heavy atoms' order), and positions always come from that same atom: nothing here
renumbers atoms. (DGL-LifeSci's 3D builder renumbers atoms canonically for the features but not for
the coordinates.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from rdkit import Chem, rdBase
from rdkit.Chem import AllChem

from chemnoether import keys
from chemnoether.errors import (
    ConfigError,
    EmbeddingError,
    GraphFormatError,
    InvalidMoleculeError,
    MissingConformerError,
    UnsupportedElementError,
)
from chemnoether.featurize._build import BatchParts, GraphParts, build_graph
from chemnoether.featurize.features import (
    DEFAULT_ATOM_FEATURIZER,
    DEFAULT_BOND_FEATURIZER,
    ELEMENT_Z,
    Featurizer,
)
from chemnoether.featurize.subgraphs import SUBGRAPH_KINDS, aromatic_rings, ring_incidence, ring_list, subgraph_incidence

DEFAULT_SUBGRAPHS = ("functional_groups", "brics")
POSITION_MODES = (None, "conformer", "embed")
_KNOWN_Z = frozenset(ELEMENT_Z)
# alkali, alkaline-earth, transition, lanthanide/actinide and post-transition metals
METAL_Z = frozenset(
    [3, 4, 11, 12, 13, 19, 20, 31, 37, 38, 49, 50, 55, 56, 81, 82, 83, 84, 87, 88]
    + list(range(21, 31)) + list(range(39, 49)) + list(range(57, 81)) + list(range(89, 104))
)  # fmt: skip
_NUMPY_FLOAT = {torch.float32: np.float32, torch.float64: np.float64}


def describe(mol: Chem.Mol) -> str:
    """Short name of a molecule for error messages: its SMILES, or the name property."""
    if mol.HasProp("_Name") and mol.GetProp("_Name"):
        return repr(mol.GetProp("_Name"))
    try:
        return repr(Chem.MolToSmiles(mol))
    except Exception:  # noqa: BLE001 - best effort for a message
        return f"<molecule with {mol.GetNumAtoms()} atoms>"


def parse_smiles(smiles: str) -> Chem.Mol:
    """Parse and sanitise ``smiles``; errors say whether parsing or sanitisation failed and why."""
    if smiles is None:
        raise InvalidMoleculeError("SMILES is None; pass a SMILES string")
    if not isinstance(smiles, str):
        raise InvalidMoleculeError(f"SMILES must be a string, got {type(smiles).__name__}: {smiles!r}")
    if not smiles.strip():
        raise InvalidMoleculeError("SMILES is empty; pass a non-empty SMILES string")
    with rdBase.BlockLogs():  # RDKit's own log lines would be noise: the exception says it all
        mol = Chem.MolFromSmiles(smiles)
        if mol is not None:
            return mol
        # failed: parse again without sanitising to tell a syntax error from a chemistry one
        raw = Chem.MolFromSmiles(smiles, sanitize=False)
        if raw is None:
            raise InvalidMoleculeError(f"could not parse SMILES {smiles!r}: check its syntax")
        try:
            Chem.SanitizeMol(raw)
        except Exception as err:  # RDKit raises several unrelated exception types here
            raise InvalidMoleculeError(
                f"SMILES {smiles!r} cannot be sanitised ({type(err).__name__}: {err}); "
                "fix the valence, charges or aromaticity"
            ) from None
        mol = raw
    return mol


# Substructure queries answer "is any atom outside the vocabulary / a metal?" in C++; the slow
# per-atom listing below runs only for the molecules that do have one. The vocabulary query is a
# conjunction of negations with the commonest elements first, so a carbon fails it at the third
# test instead of after a hundred alternatives.
_COMMON_FIRST = (6, 8, 7, 1, 16, 17, 9, 35, 15, 53)
_UNKNOWN_QUERY = Chem.MolFromSmarts(
    "[" + ";".join(f"!#{z}" for z in _COMMON_FIRST + tuple(sorted(_KNOWN_Z - set(_COMMON_FIRST)))) + "]"
)
_METAL_QUERY = Chem.MolFromSmarts("[" + ",".join(f"#{z}" for z in sorted(METAL_Z)) + "]")


def _check_atoms(mol: Chem.Mol, unknown_elements: str, metals: str) -> None:
    if mol.GetNumAtoms() == 0:
        raise InvalidMoleculeError(f"molecule {describe(mol)} has no atoms")
    flagged = mol.HasSubstructMatch(_UNKNOWN_QUERY) or (metals == "error" and mol.HasSubstructMatch(_METAL_QUERY))
    if not flagged:
        return
    numbers = {mol.GetAtomWithIdx(i).GetAtomicNum() for i in range(mol.GetNumAtoms())}
    if 0 in numbers:
        raise UnsupportedElementError(
            f"molecule {describe(mol)} has a dummy atom (*, atomic number 0); replace it by a real element"
        )
    if unknown_elements == "error" and not numbers <= _KNOWN_Z:
        symbols = sorted(Chem.GetPeriodicTable().GetElementSymbol(z) for z in numbers - _KNOWN_Z)
        raise UnsupportedElementError(
            f"molecule {describe(mol)} has elements outside the feature vocabulary: {symbols}; "
            "pass unknown_elements='other' to encode them in the 'other' slot"
        )
    if metals == "error" and numbers & METAL_Z:
        symbols = sorted(Chem.GetPeriodicTable().GetElementSymbol(z) for z in numbers & METAL_Z)
        raise UnsupportedElementError(
            f"molecule {describe(mol)} contains metals {symbols} and metals='error' was asked; "
            "pass metals='keep' to featurise them"
        )


def _select_fragments(mol: Chem.Mol, fragments: str) -> Chem.Mol:
    if fragments == "keep":
        return mol
    frags = Chem.GetMolFrags(mol)
    if len(frags) == 1:
        return mol
    if fragments == "error":
        raise InvalidMoleculeError(
            f"molecule {describe(mol)} has {len(frags)} disconnected species (a salt or mixture); "
            "pass fragments='keep' to featurise all of them or fragments='largest' for the largest"
        )
    # largest by heavy-atom count, ties broken by first occurrence; atoms keep their order
    keep = max(frags, key=lambda f: sum(mol.GetAtomWithIdx(i).GetAtomicNum() > 1 for i in f))
    drop = sorted(set(range(mol.GetNumAtoms())) - set(keep), reverse=True)
    editable = Chem.RWMol(mol)
    for idx in drop:
        editable.RemoveAtom(idx)
    out = editable.GetMol()
    Chem.SanitizeMol(out)
    return out


def _embed(mol: Chem.Mol, seed: int) -> Chem.Mol:
    """ETKDG conformer with explicit hydrogens; heavy atoms keep their indices (H are appended)."""
    with_h = Chem.AddHs(mol)
    params = AllChem.ETKDGv3()
    params.randomSeed = int(seed)
    if AllChem.EmbedMolecule(with_h, params) != 0:
        params.useRandomCoords = True  # the documented fallback for hard cases
        if AllChem.EmbedMolecule(with_h, params) != 0:
            raise EmbeddingError(
                f"ETKDG could not embed {describe(mol)} (seed {seed}); "
                "supply a conformer and use positions='conformer'"
            )
    return with_h


def _positions(mol: Chem.Mol, conformer_id: int) -> np.ndarray:
    if mol.GetNumConformers() == 0:
        raise MissingConformerError(
            f"molecule {describe(mol)} has no conformer but positions='conformer' was asked; "
            "pass positions='embed' to generate one with ETKDG"
        )
    pos = np.asarray(mol.GetConformer(conformer_id).GetPositions(), dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(pos).all(axis=1))
    if bad.size:
        raise InvalidMoleculeError(
            f"molecule {describe(mol)} has non-finite coordinates at atoms {bad.tolist()}"
        )
    return pos


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
    atoms = [m.GetAtomWithIdx(i) for m in mols for i in range(m.GetNumAtoms())]
    bonds = [m.GetBondWithIdx(i) for m in mols for i in range(m.GetNumBonds())]
    n_atoms = np.array([m.GetNumAtoms() for m in mols], dtype=np.int64)
    n_bonds = np.array([m.GetNumBonds() for m in mols], dtype=np.int64)
    atom_offset = np.repeat(np.cumsum(n_atoms) - n_atoms, n_bonds)

    charges = _ints(Chem.Atom.GetFormalCharge, atoms)
    atom_data = {
        keys.ATOMIC_NUMBERS: _ints(Chem.Atom.GetAtomicNum, atoms),
        keys.NODE_ATTRS: atom_featurizer(atoms),
        keys.FORMAL_CHARGE: charges,
        # includeNeighbors: with explicit hydrogens the H are neighbours, not implicit counts
        keys.NUM_HS: np.array([a.GetTotalNumHs(includeNeighbors=True) for a in atoms], dtype=np.int64),
        keys.MASSES: np.fromiter(map(Chem.Atom.GetMass, atoms), dtype=float_dtype, count=len(atoms)),
    }
    ends = np.stack([_ints(Chem.Bond.GetBeginAtomIdx, bonds), _ints(Chem.Bond.GetEndAtomIdx, bonds)], axis=1)
    ends += atom_offset[:, None]
    # RDKit's own: 1, 1.5 (aromatic), 2, 3; dative bonds count 1
    order = np.fromiter(map(Chem.Bond.GetBondTypeAsDouble, bonds), dtype=np.float32, count=len(bonds))
    # both directions of bond k sit at rows 2k and 2k+1
    relations = {keys.BOND: (ends.reshape(-1), ends[:, ::-1].reshape(-1))}
    edge_data = {
        keys.BOND: {keys.EDGE_ATTRS: np.repeat(bond_featurizer(bonds), 2, axis=0), keys.BOND_ORDER: np.repeat(order, 2)},
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
        keys.SYSTEM: {keys.TOTAL_CHARGE: np.add.reduceat(charges, np.cumsum(n_atoms) - n_atoms).astype(np.float32)},
    }

    ring_lists = [ring_list(m) for m in mols] if rings else [() for _ in mols]
    aromatic = (order == 1.5).tolist()
    bond_start = (np.cumsum(n_bonds) - n_bonds).tolist()
    node_data[keys.RING] = (
        {
            keys.RING_SIZE: np.array([len(r) for rs in ring_lists for r in rs], dtype=np.int64),
            keys.RING_AROMATIC: np.array(
                [flag for m, b0 in zip(mols, bond_start, strict=True) for flag in aromatic_rings(m, aromatic, b0)],
                dtype=bool,
            ),
        }
        if rings
        else {}
    )
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
            from chemnoether.featurize.neighbors import radius_edges  # noqa: PLC0415 - imports ASE

            edges = [radius_edges(p, cutoff) for p in positions]
            near = [(s, d) for s, d, _ in edges]
            edge_data[keys.NEAR] = {keys.EDGE_SHIFT: np.concatenate([sh for _, _, sh in edges]).astype(float_dtype)}
    relations[keys.NEAR], _, edge_counts[keys.NEAR] = _incidence(near, n_atoms, n_atoms)
    return BatchParts(node_counts, edge_counts, relations, node_data, edge_data)


_NONE = np.zeros(0, dtype=np.int64)


def _incidence(pairs, group_counts, n_atoms):
    """Concatenate per-molecule (atom, group) pairs, offsetting both ids to batch-global ones."""
    group_counts = np.asarray(group_counts, dtype=np.int64)
    sizes = np.array([len(a) for a, _ in pairs], dtype=np.int64)
    atom_off = np.repeat(np.cumsum(n_atoms) - n_atoms, sizes)
    group_off = np.repeat(np.cumsum(group_counts) - group_counts, sizes)
    atoms = np.concatenate([a for a, _ in pairs]).astype(np.int64, copy=False) + atom_off
    groups = np.concatenate([g for _, g in pairs]).astype(np.int64, copy=False) + group_off
    return (atoms, groups), group_counts, sizes


def molecules_parts(mols: Sequence[Chem.Mol], **options) -> list[GraphParts]:
    """``molecules_batch`` split back into one ``GraphParts`` per molecule."""
    batch = molecules_batch(mols, **options)
    return [batch.graph_parts(g) for g in range(len(batch))]


def molecule_parts(mol: Chem.Mol, **options) -> GraphParts:
    """Topology and features of one sanitised molecule (no positions)."""
    return molecules_batch([mol], **options).graph_parts(0)


@dataclass(frozen=True)
class MolOptions:
    """Options of ``mol_to_graph``, validated once."""

    explicit_hydrogens: bool = False
    positions: str | None = None
    conformer_id: int = -1
    seed: int = 0
    cutoff: float | None = None
    rings: bool = True
    subgraphs: tuple[str, ...] = DEFAULT_SUBGRAPHS
    unknown_elements: str = "error"
    metals: str = "keep"
    fragments: str = "keep"
    atom_featurizer: Featurizer = DEFAULT_ATOM_FEATURIZER
    bond_featurizer: Featurizer = DEFAULT_BOND_FEATURIZER
    dtype: torch.dtype = torch.float32

    def __post_init__(self):
        object.__setattr__(self, "subgraphs", tuple(self.subgraphs or ()))
        _check_option("positions", self.positions, POSITION_MODES)
        _check_option("unknown_elements", self.unknown_elements, ("error", "other"))
        _check_option("metals", self.metals, ("keep", "error"))
        _check_option("fragments", self.fragments, ("keep", "largest", "error"))
        _check_option("dtype", self.dtype, tuple(_NUMPY_FLOAT))
        unknown = set(self.subgraphs) - set(SUBGRAPH_KINDS)
        if unknown:
            raise ConfigError(f"subgraphs={self.subgraphs!r}: unknown kinds {sorted(unknown)}; choose from {SUBGRAPH_KINDS}")
        if self.cutoff is not None and self.positions is None:
            raise ConfigError("cutoff needs 3D positions: pass positions='conformer' or 'embed'")

    def feature_options(self) -> dict:
        return dict(
            rings=self.rings,
            subgraphs=self.subgraphs,
            atom_featurizer=self.atom_featurizer,
            bond_featurizer=self.bond_featurizer,
        )


def prepare_mol(mol: Chem.Mol, options: MolOptions) -> tuple[Chem.Mol, np.ndarray | None]:
    """Check a molecule and bring it to the form that is featurised: (molecule, positions or None)."""
    if mol is None:
        raise InvalidMoleculeError(
            "molecule is None (RDKit returns None for input it cannot parse); check the source SMILES or file"
        )
    if not isinstance(mol, Chem.Mol):
        raise InvalidMoleculeError(f"expected an rdkit.Chem.Mol, got {type(mol).__name__}")
    _check_atoms(mol, options.unknown_elements, options.metals)
    mol = _select_fragments(mol, options.fragments)
    conformer_id = options.conformer_id
    if options.positions == "embed":
        mol = _embed(mol, options.seed)
        conformer_id = -1
    if options.explicit_hydrogens:
        if options.positions == "conformer" and mol.GetNumConformers() == 0:
            _positions(mol, conformer_id)  # raises the clear error before AddHs hides it
        mol = Chem.AddHs(mol, addCoords=mol.GetNumConformers() > 0)
    elif mol.GetNumHeavyAtoms() < mol.GetNumAtoms():
        mol = Chem.RemoveHs(mol, sanitize=False)  # heavy atoms keep their relative order
    pos = _positions(mol, conformer_id) if options.positions is not None else None
    return mol, pos


def mols_to_batch(prepared: Sequence[tuple[Chem.Mol, np.ndarray | None]], options: MolOptions) -> BatchParts:
    """``BatchParts`` of molecules returned by ``prepare_mol`` with the same ``options``."""
    mols = [m for m, _ in prepared]
    positions = [p for _, p in prepared] if options.positions is not None else None
    return molecules_batch(
        mols, positions, cutoff=options.cutoff, float_dtype=_NUMPY_FLOAT[options.dtype], **options.feature_options()
    )


def mol_to_parts(mol: Chem.Mol, **options) -> GraphParts:
    """Validate and featurise an RDKit molecule into ``GraphParts``; options as ``mol_to_graph``."""
    opts = MolOptions(**options)
    return mols_to_batch([prepare_mol(mol, opts)], opts).graph_parts(0)


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


def _ints(getter, items: list) -> np.ndarray:
    # map() keeps the loop over RDKit objects in C
    return np.fromiter(map(getter, items), dtype=np.int64, count=len(items))


def _check_option(name: str, value, allowed: tuple) -> None:
    if value not in allowed:
        raise ConfigError(f"{name}={value!r} is not one of {allowed}")


def smiles_to_graph(smiles: str, **options):
    """Parse ``smiles`` and featurise it into a ``dgl.DGLGraph``; options as for ``mol_to_graph``."""
    return build_graph(smiles_to_parts(smiles, **options))
