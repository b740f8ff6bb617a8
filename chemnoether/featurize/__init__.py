"""Featurizers: RDKit molecules, SMILES and ASE atoms to chemnoether DGL graphs.

Every graph follows the schema in ``chemnoether.keys``; single-item functions raise a
``chemnoether.errors`` exception naming the input, batch functions return a status per row.
"""

from chemnoether.featurize.ase_graph import atoms_to_graph, element_one_hot
from chemnoether.featurize.batch import (
    FeaturizeResult,
    featurize_dataframe,
    featurize_mols,
    featurize_smiles,
)
from chemnoether.featurize.features import (
    ATOM_FEATURES,
    BOND_FEATURES,
    DEFAULT_ATOM_FEATURIZER,
    DEFAULT_BOND_FEATURIZER,
    ELEMENTS,
    Feature,
    Featurizer,
    atom_feature_widths,
    bond_feature_widths,
)
from chemnoether.featurize.neighbors import radius_edges
from chemnoether.featurize.rdkit_graph import (
    MolOptions,
    mol_to_graph,
    molecule_parts,
    parse_smiles,
    smiles_to_graph,
)
from chemnoether.featurize.subgraphs import FUNCTIONAL_GROUPS, SUBGRAPH_TYPES

__all__ = [
    "ATOM_FEATURES",
    "BOND_FEATURES",
    "DEFAULT_ATOM_FEATURIZER",
    "DEFAULT_BOND_FEATURIZER",
    "ELEMENTS",
    "FUNCTIONAL_GROUPS",
    "SUBGRAPH_TYPES",
    "Feature",
    "FeaturizeResult",
    "Featurizer",
    "MolOptions",
    "atom_feature_widths",
    "atoms_to_graph",
    "bond_feature_widths",
    "element_one_hot",
    "featurize_dataframe",
    "featurize_mols",
    "featurize_smiles",
    "mol_to_graph",
    "molecule_parts",
    "parse_smiles",
    "radius_edges",
    "smiles_to_graph",
]
