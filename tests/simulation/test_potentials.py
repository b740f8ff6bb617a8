"""Potentials: forces are minus the energy gradient, units are converted once, bad input is refused."""

import numpy as np
import pytest
from rdkit import Chem

import chemnoether  # noqa: F401  (before dgl, see chemnoether._dgl_compat)
from chemnoether.data.molecules import KNOWN_MOLECULES, resolve_molecule
from chemnoether.simulation.potentials import KCAL_PER_MOL_IN_EV, GFN2Potential, MMFFPotential
from chemnoether.errors import InvalidMoleculeError, MissingConformerError

from ._molecules import embedded


def displaced_positions(mol, scale=0.05):
    """Off the conformer, so that forces are not near zero and every term is exercised."""
    positions = mol.GetConformer().GetPositions()
    return positions + np.random.default_rng(0).normal(scale=scale, size=positions.shape)


def numerical_forces(potential, positions, step):
    """-dE/dx by central differences, float64."""
    forces = np.zeros_like(positions)
    for index in np.ndindex(positions.shape):
        plus, minus = positions.copy(), positions.copy()
        plus[index] += step
        minus[index] -= step
        forces[index] = -(potential.energy_forces(plus)[0] - potential.energy_forces(minus)[0]) / (2 * step)
    return forces


def test_kcal_per_mol_in_ev():
    # 4.184 kJ/mol per kcal/mol over 96.4853 kJ/mol per eV (Faraday constant)
    assert KCAL_PER_MOL_IN_EV == pytest.approx(4.184 / 96.48533212, rel=1e-6)


@pytest.mark.parametrize("smiles", ["CCO", KNOWN_MOLECULES["aspirin"]])
def test_mmff_forces_are_minus_energy_gradient(smiles):
    mol = embedded(smiles)
    potential = MMFFPotential(mol)
    positions = displaced_positions(mol)
    energy, forces = potential.energy_forces(positions)
    assert isinstance(energy, float) and forces.shape == positions.shape and forces.dtype == np.float64
    assert np.abs(forces).max() > 0.1  # eV/Å: a real test, not zeros against zeros
    # measured: largest difference 3e-9 (ethanol) and 7e-9 eV/Å (aspirin)
    np.testing.assert_allclose(forces, numerical_forces(potential, positions, 1e-5), atol=1e-6)


def test_mmff_energy_is_in_ev():
    mol = embedded("CCO")
    positions = displaced_positions(mol)
    from rdkit.Chem import rdForceFieldHelpers

    field = rdForceFieldHelpers.MMFFGetMoleculeForceField(mol, rdForceFieldHelpers.MMFFGetMoleculeProperties(mol))
    kcal = field.CalcEnergy(positions.ravel().tolist())
    assert MMFFPotential(mol).energy_forces(positions)[0] == pytest.approx(kcal * KCAL_PER_MOL_IN_EV, rel=1e-12)


def test_mmff_refuses_what_it_cannot_type():
    with pytest.raises(InvalidMoleculeError, match="no parameters for B"):
        MMFFPotential(embedded("CB(C)C"))


def test_mmff_needs_hydrogens_and_a_conformer():
    with pytest.raises(InvalidMoleculeError, match="AddHs"):
        MMFFPotential(Chem.MolFromSmiles("CCO"))
    with pytest.raises(MissingConformerError):
        MMFFPotential(Chem.AddHs(Chem.MolFromSmiles("CCO")))


def test_gfn2_forces_are_minus_energy_gradient():
    pytest.importorskip("tblite")
    mol = embedded("CCO")
    positions = displaced_positions(mol)
    # restart=False: each energy from the atomic guess, so finite differences see no SCC history;
    # tight SCC (accuracy 0.01): at the default the gradient is consistent only to ~1e-4 eV/Å
    potential = GFN2Potential.from_mol(mol, restart=False, accuracy=0.01)
    energy, forces = potential.energy_forces(positions)
    assert energy == pytest.approx(-309.6, abs=1.0)  # eV; GFN2 total energy of ethanol (-11.4 Hartree)
    np.testing.assert_allclose(forces, numerical_forces(potential, positions, 1e-4), atol=2e-5)  # measured 2e-6


def test_gfn2_matches_tblite_ase_calculator():
    pytest.importorskip("tblite")
    from ase import Atoms
    from tblite.ase import TBLite

    mol = embedded("CCO")
    positions = displaced_positions(mol)
    atoms = Atoms(numbers=[a.GetAtomicNum() for a in mol.GetAtoms()], positions=positions)
    atoms.calc = TBLite(method="GFN2-xTB", verbosity=0)
    energy, forces = GFN2Potential.from_mol(mol).energy_forces(positions)
    assert energy == pytest.approx(atoms.get_potential_energy(), abs=1e-6)
    np.testing.assert_allclose(forces, atoms.get_forces(), atol=1e-5)


def test_resolve_molecule_names_aliases_and_smiles():
    assert resolve_molecule("Salicylic acid") == ("salicylic_acid", KNOWN_MOLECULES["salicylic_acid"])
    assert resolve_molecule("salicylic")[0] == "salicylic_acid"
    assert resolve_molecule("OCC") == ("ethanol", "CCO")  # a SMILES of a known molecule gets its name
    assert resolve_molecule("CCCC") == ("CCCC", "CCCC")
    for name in ("ethanol", "malonaldehyde", "aspirin", "naphthalene", "salicylic_acid", "toluene", "uracil", "benzene"):
        assert Chem.MolFromSmiles(KNOWN_MOLECULES[name]) is not None


def test_unknown_molecule_lists_the_known_names():
    with pytest.raises(InvalidMoleculeError, match="known names: .*aspirin.*ethanol"):
        resolve_molecule("ethanoll")


def test_gfn2_runs_on_one_openmp_thread_and_restores_the_count(monkeypatch):
    pytest.importorskip("tblite")
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    mol = embedded("O")
    potential = GFN2Potential.from_mol(mol)
    runtime = potential._openmp
    if runtime is None:
        pytest.skip("no GNU OpenMP runtime reachable through ctypes")
    threads_of_the_process = runtime.omp_get_max_threads()
    runtime.omp_set_num_threads(2)
    seen = []
    singlepoint = potential._calculator.singlepoint
    monkeypatch.setattr(potential._calculator, "singlepoint", lambda *a: seen.append(runtime.omp_get_max_threads()) or singlepoint(*a))
    try:
        potential.energy_forces(mol.GetConformer().GetPositions())
        assert seen == [1] and runtime.omp_get_max_threads() == 2
    finally:
        runtime.omp_set_num_threads(threads_of_the_process)
