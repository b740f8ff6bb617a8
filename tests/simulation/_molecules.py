"""Molecules with explicit hydrogens and a seeded ETKDG conformer, for the potential tests."""

from rdkit import Chem
from rdkit.Chem import rdDistGeom


def embedded(smiles, seed=0):
    mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
    params = rdDistGeom.ETKDGv3()
    params.randomSeed = seed
    assert rdDistGeom.EmbedMolecule(mol, params) == 0
    return mol
