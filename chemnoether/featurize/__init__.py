"""Featurizers: RDKit molecules, SMILES and ASE atoms to chemnoether DGL graphs."""

from chemnoether.featurize.features import (
    ATOM_FEATURES,
    BOND_FEATURES,
    DEFAULT_ATOM_FEATURIZER,
    DEFAULT_BOND_FEATURIZER,
    Feature,
    Featurizer,
    atom_feature_widths,
    bond_feature_widths,
)
from chemnoether.featurize.rdkit_graph import mol_to_graph, molecule_parts, parse_smiles, smiles_to_graph
from chemnoether.featurize.subgraphs import FUNCTIONAL_GROUPS, SUBGRAPH_TYPES

__all__ = [
    "ATOM_FEATURES",
    "BOND_FEATURES",
    "DEFAULT_ATOM_FEATURIZER",
    "DEFAULT_BOND_FEATURIZER",
    "FUNCTIONAL_GROUPS",
    "SUBGRAPH_TYPES",
    "Feature",
    "Featurizer",
    "atom_feature_widths",
    "bond_feature_widths",
    "mol_to_graph",
    "molecule_parts",
    "parse_smiles",
    "smiles_to_graph",
]
