"""Checking and preparing RDKit molecules before featurisation: parsing, options, 3D, hydrogens.

Every refusal is a ``chemnoether.errors`` exception that names the molecule and the fix.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import torch
from rdkit import Chem, rdBase
from rdkit.Chem import AllChem

from chemnoether.errors import (
    ConfigError,
    EmbeddingError,
    InvalidMoleculeError,
    MissingConformerError,
    UnsupportedElementError,
)
from chemnoether.featurize.features import (
    DEFAULT_ATOM_FEATURIZER,
    DEFAULT_BOND_FEATURIZER,
    ELEMENT_Z,
    Featurizer,
)
from chemnoether.featurize.subgraphs import SUBGRAPH_KINDS

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


def embed_conformer(mol: Chem.Mol, seed: int) -> Chem.Mol:
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
    ids = [c.GetId() for c in mol.GetConformers()]
    if conformer_id != -1 and conformer_id not in ids:
        raise MissingConformerError(
            f"molecule {describe(mol)} has no conformer with id {conformer_id}; its conformer ids are {ids}"
        )
    pos = np.asarray(mol.GetConformer(conformer_id).GetPositions(), dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(pos).all(axis=1))
    if bad.size:
        raise InvalidMoleculeError(
            f"molecule {describe(mol)} has non-finite coordinates at atoms {bad.tolist()}"
        )
    return pos


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
        subgraphs = (self.subgraphs,) if isinstance(self.subgraphs, str) else tuple(self.subgraphs or ())
        object.__setattr__(self, "subgraphs", subgraphs)
        if self.cutoff is not None and not (isinstance(self.cutoff, int | float) and 0 < self.cutoff < float("inf")):
            raise ConfigError(f"cutoff={self.cutoff!r} must be a positive, finite distance in Å")
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
    if mol.GetNumAtoms() == 0:
        raise InvalidMoleculeError(f"molecule {describe(mol)} has no atoms")
    # fragments first: a counter-ion that fragments='largest' drops must not refuse the molecule
    mol = _select_fragments(mol, options.fragments)
    _check_atoms(mol, options.unknown_elements, options.metals)
    conformer_id = options.conformer_id
    if options.positions == "embed":
        mol = embed_conformer(mol, options.seed)
        conformer_id = -1
    if options.explicit_hydrogens:
        if options.positions == "conformer" and mol.GetNumConformers() == 0:
            _positions(mol, conformer_id)  # raises the clear error before AddHs hides it
        mol = Chem.AddHs(mol, addCoords=mol.GetNumConformers() > 0)
    elif mol.GetNumHeavyAtoms() < mol.GetNumAtoms():
        # heavy atoms keep their relative order; sanitising again restores the symmetrized SSSR
        mol = Chem.RemoveHs(mol)
    pos = _positions(mol, conformer_id) if options.positions is not None else None
    return mol, pos


def _check_option(name: str, value, allowed: tuple) -> None:
    if value not in allowed:
        raise ConfigError(f"{name}={value!r} is not one of {allowed}")


def float_dtype_of(options: MolOptions) -> type:
    """The numpy float type matching ``options.dtype``."""
    return _NUMPY_FLOAT[options.dtype]


def mol_options(options: dict) -> MolOptions:
    """``MolOptions(**options)``, with a misspelt keyword reported as a ``ConfigError``."""
    try:
        return MolOptions(**options)
    except TypeError as err:
        valid = sorted(f.name for f in fields(MolOptions))
        unknown = sorted(set(options) - set(valid))
        raise ConfigError(f"unknown featurizer options {unknown}; valid options are {valid}") from err
