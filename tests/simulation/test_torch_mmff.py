"""The torch MMFF94 energy is RDKit's: energies, forces and each term family, batched, on any device."""

import time
from dataclasses import replace

import numpy as np
import pytest
import torch
from rdkit import Chem
from rdkit.Chem import rdForceFieldHelpers
from rdkit.Geometry import Point3D

import chemnoether  # noqa: F401  (before dgl, see chemnoether._dgl_compat)
from chemnoether import keys
from chemnoether.data.molecules import KNOWN_MOLECULES
from chemnoether.simulation.potentials import KCAL_PER_MOL_IN_EV, MMFFPotential
from chemnoether.core.tensors import GraphTensors
from chemnoether.simulation.torch_mmff import (
    FAMILIES,
    MMFFTerms,
    mmff_energy,
    mmff_energy_terms,
    mmff_torch_potential,
)
from chemnoether.errors import ConfigError, InvalidMoleculeError, MissingConformerError
from chemnoether.featurize.rdkit_graph import mol_to_graph
from chemnoether.nn.testing import random_orthogonal
from chemnoether.noether import TotalEnergy

from ._molecules import embedded

# RDKit's name for each family's switch in MMFFMolProperties (SetMMFF<name>Term)
RDKIT_SWITCH = {
    "bond": "Bond", "angle": "Angle", "stretch_bend": "StretchBend", "oop": "Oop",
    "torsion": "Torsion", "vdw": "VdW", "electrostatic": "Ele",
}
ENERGY_RTOL, FORCE_RTOL = 1e-8, 1e-6
# measured (RDKit 2026.09, float64): energies agree to 1e-14 relative, forces to 1e-9 of the
# largest force; the absolute floors cover families whose energy or force is ~0 (benzene's torsions)
ENERGY_ATOL, FORCE_ATOL = 1e-12, 1e-10  # eV, eV/Å

MOLECULES = {
    "ethanol": "CCO",
    "aspirin": KNOWN_MOLECULES["aspirin"],
    "benzene": "c1ccccc1",
    "acetic_acid": "CC(=O)O",
    "acetate": "CC(=O)[O-]",
    "methylammonium": "C[NH3+]",
    "acetonitrile": "CC#N",  # linear centre, MMFF type 4
    "propyne": "CC#C",
    "methyl_azide": "CN=[N+]=[N-]",  # linear =N=, type 53
    "n_methylacetamide": "CC(=O)NC",
    "chlorophenyl_methyl_sulfone": "CS(=O)(=O)c1ccc(Cl)cc1",
    "bromofluorothioanisole": "CSc1ccc(Br)cc1F",
    "cyclobutane": "C1CCC1",  # 1-3 pairs across a ring stay excluded
}


def water_dimer():
    """Two waters embedded apart and combined 3 Å away: two fragments, only non-bonded between them."""
    first, second = embedded("O", seed=0), embedded("O", seed=1)
    conformer = second.GetConformer()
    for i in range(second.GetNumAtoms()):
        p = conformer.GetAtomPosition(i)
        conformer.SetAtomPosition(i, Point3D(p.x + 3.0, p.y + 0.3, p.z - 0.2))
    return Chem.CombineMols(first, second)


@pytest.fixture(scope="module", params=[*MOLECULES, "water_dimer"])
def mol(request):
    return water_dimer() if request.param == "water_dimer" else embedded(MOLECULES[request.param])


def geometries(mol, count=3, noise=0.1):
    """The conformer and ``count`` copies with Gaussian noise (Å): every term away from its minimum."""
    x0 = mol.GetConformer().GetPositions()
    rng = np.random.default_rng(0)
    return [x0] + [x0 + rng.normal(scale=noise, size=x0.shape) for _ in range(count)]


def rdkit_field(mol, only=None):
    properties = rdForceFieldHelpers.MMFFGetMoleculeProperties(mol, mmffVariant="MMFF94")
    if only is not None:
        for family, switch in RDKIT_SWITCH.items():
            getattr(properties, f"SetMMFF{switch}Term")(family == only)
    field = rdForceFieldHelpers.MMFFGetMoleculeForceField(mol, properties, nonBondedThresh=100.0, ignoreInterfragInteractions=False)
    return field, properties


def rdkit_energy_forces(field, x):
    coords = x.ravel().tolist()
    # energy first: RDKit's CalcGrad(coords) reuses the distances cached by the last CalcEnergy
    energy = field.CalcEnergy(coords) * KCAL_PER_MOL_IN_EV
    return energy, -np.array(field.CalcGrad(coords)).reshape(-1, 3) * KCAL_PER_MOL_IN_EV


def energy_forces(function, x):
    pos = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    energy = function(pos)
    (grad,) = torch.autograd.grad(energy, pos, allow_unused=True)
    return energy.item(), (-grad.numpy() if grad is not None else np.zeros_like(x))


def assert_matches(energy, forces, expected_energy, expected_forces, what):
    assert abs(energy - expected_energy) <= ENERGY_RTOL * abs(expected_energy) + ENERGY_ATOL, (what, energy, expected_energy)
    scale = np.abs(expected_forces).max()
    assert np.abs(forces - expected_forces).max() <= FORCE_RTOL * scale + FORCE_ATOL, (what, np.abs(forces - expected_forces).max(), scale)


def test_energy_and_forces_match_rdkit(mol):
    field, _ = rdkit_field(mol)
    terms = MMFFTerms.from_mol(mol)
    for n, x in enumerate(geometries(mol)):
        assert_matches(*energy_forces(lambda p: mmff_energy(terms, p), x), *rdkit_energy_forces(field, x), f"geometry {n}")


def test_each_term_family_matches_rdkit(mol):
    terms = MMFFTerms.from_mol(mol)
    for family in FAMILIES:
        field, _ = rdkit_field(mol, only=family)
        for n, x in enumerate(geometries(mol, count=2)):
            ours = energy_forces(lambda p, f=family: mmff_energy_terms(terms, p)[f], x)
            assert_matches(*ours, *rdkit_energy_forces(field, x), f"{family}, geometry {n}")


def test_properties_switches_are_honoured():
    mol = embedded(MOLECULES["n_methylacetamide"])
    field, properties = rdkit_field(mol, only="electrostatic")
    terms = MMFFTerms.from_mol(mol, properties)
    assert terms.bond_index.shape == (0, 2) and terms.torsion_index.shape == (0, 4) and terms.vdw_index.shape == (0, 2)
    x = geometries(mol)[1]
    assert_matches(*energy_forces(lambda p: mmff_energy(terms, p), x), *rdkit_energy_forces(field, x), "electrostatics only")
    # distance-dependent dielectric D r, D = 4
    properties.SetMMFFDielectricModel(2)
    properties.SetMMFFDielectricConstant(4.0)
    field = rdForceFieldHelpers.MMFFGetMoleculeForceField(mol, properties, nonBondedThresh=100.0, ignoreInterfragInteractions=False)
    terms = MMFFTerms.from_mol(mol, properties)
    assert terms.ele_distance_dependent
    assert_matches(*energy_forces(lambda p: mmff_energy(terms, p), x), *rdkit_energy_forces(field, x), "distance dielectric")


def test_matches_mmff_potential():
    mol = embedded(MOLECULES["aspirin"])
    x = geometries(mol)[1]
    energy, forces = MMFFPotential(mol).energy_forces(x)
    assert_matches(*energy_forces(lambda p: mmff_energy(MMFFTerms.from_mol(mol), p), x), energy, forces, "MMFFPotential")


def test_term_counts_follow_topology():
    terms = MMFFTerms.from_mol(embedded("CC#N"))  # C0 H3 on C0, C1 linear, N2
    assert terms.linear_index.tolist() == [[0, 1, 2]]
    assert terms.stbn_index.shape[0] == terms.angle_index.shape[0] == 6  # about C0 only
    assert terms.torsion_index.shape[0] == 0  # no torsion about a triple bond
    # 1-4 and further pairs only: the H's and N (3 bonds apart)
    assert sorted(map(tuple, terms.vdw_index.tolist())) == [(2, 3), (2, 4), (2, 5)]


def test_batch_equals_single_geometries():
    mol = embedded(MOLECULES["aspirin"])
    terms = MMFFTerms.from_mol(mol)
    stack = torch.tensor(np.stack(geometries(mol, count=4)), dtype=torch.float64, requires_grad=True)
    batched = mmff_energy(terms, stack)
    assert batched.shape == (5,)
    (grad,) = torch.autograd.grad(batched.sum(), stack)
    for b in range(5):
        single = stack[b].detach().clone().requires_grad_(True)
        energy = mmff_energy(terms, single)
        assert energy.shape == ()
        torch.testing.assert_close(energy, batched[b].detach(), rtol=1e-13, atol=0)
        torch.testing.assert_close(torch.autograd.grad(energy, single)[0], grad[b], rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("smiles", ["CC#N", "CC(=O)N"])
def test_second_derivatives_are_finite_and_right(smiles):
    mol = embedded(smiles)
    terms = MMFFTerms.from_mol(mol)
    x = torch.tensor(geometries(mol)[1], dtype=torch.float64)

    def gradient(p):
        p = p.detach().requires_grad_(True) if not p.requires_grad else p
        return torch.autograd.grad(mmff_energy(terms, p), p, create_graph=True)[0]

    pos = x.clone().requires_grad_(True)
    direction = torch.randn(x.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    (hvp,) = torch.autograd.grad((gradient(pos) * direction).sum(), pos)
    assert torch.isfinite(hvp).all()
    step = 1e-5
    numeric = (gradient(x + step * direction) - gradient(x - step * direction)).detach() / (2 * step)
    torch.testing.assert_close(hvp, numeric, rtol=1e-5, atol=1e-6)
    # and at the conformer, where acetonitrile's C-C#N is linear (the 1 + cos theta form)
    hessian = torch.autograd.functional.hessian(lambda p: mmff_energy(terms, p), torch.tensor(geometries(mol)[0]))
    assert torch.isfinite(hessian).all()
    torch.testing.assert_close(hessian.reshape(x.numel(), -1), hessian.reshape(x.numel(), -1).T, rtol=1e-8, atol=1e-9)


def test_rotation_and_translation_invariance():
    mol = embedded(MOLECULES["aspirin"])
    terms = MMFFTerms.from_mol(mol)
    x = torch.tensor(geometries(mol)[1], dtype=torch.float64, requires_grad=True)
    rotation = random_orthogonal(torch.float64, parity=False)
    moved = (x.detach() @ rotation.T + torch.tensor([3.0, -7.0, 11.0], dtype=torch.float64)).requires_grad_(True)
    energy, energy_moved = mmff_energy(terms, x), mmff_energy(terms, moved)
    torch.testing.assert_close(energy_moved, energy, rtol=1e-12, atol=1e-12)
    forces = torch.autograd.grad(energy, x)[0]
    torch.testing.assert_close(torch.autograd.grad(energy_moved, moved)[0], forces @ rotation.T, rtol=1e-10, atol=1e-10)


def test_float32_and_device_follow_the_positions():
    mol = embedded(MOLECULES["ethanol"])
    terms = MMFFTerms.from_mol(mol)
    x = torch.tensor(geometries(mol)[1])
    energy32 = mmff_energy(terms, x.float())
    assert energy32.dtype == torch.float32
    torch.testing.assert_close(energy32.double(), mmff_energy(terms, x), rtol=1e-5, atol=1e-5)
    cast = terms.to(dtype=torch.float32)
    assert cast.bond_kb.dtype == torch.float32 and cast.bond_index.dtype == torch.int64
    assert cast.atomic_numbers.dtype == torch.int64


@pytest.mark.gpu
def test_cuda_matches_cpu():
    mol = embedded(MOLECULES["aspirin"])
    terms = MMFFTerms.from_mol(mol)
    x = torch.tensor(np.stack(geometries(mol)), dtype=torch.float64)
    on_gpu = terms.to("cuda")
    assert on_gpu.bond_index.is_cuda and on_gpu.device.type == "cuda"
    pos = x.to("cuda").requires_grad_(True)
    energy = mmff_energy(on_gpu, pos)
    (grad,) = torch.autograd.grad(energy.sum(), pos)
    expected_pos = x.clone().requires_grad_(True)
    expected = mmff_energy(terms, expected_pos)
    torch.testing.assert_close(energy.cpu(), expected, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(grad.cpu(), torch.autograd.grad(expected.sum(), expected_pos)[0], rtol=1e-10, atol=1e-10)


def graph_batch(mol, positions):
    graph = mol_to_graph(mol, explicit_hydrogens=True, positions="conformer")
    batch = GraphTensors.from_graph([graph] * len(positions), dtype=torch.float64)
    pos = torch.tensor(np.concatenate(positions), dtype=torch.float64)
    return replace(batch, atom={**batch.atom, keys.POS: pos, keys.VEL: torch.zeros_like(pos)})


def test_torch_potential_on_graph_batches():
    mol = embedded(MOLECULES["aspirin"])
    xs = geometries(mol)
    state = graph_batch(mol, xs)
    potential = mmff_torch_potential(mol)
    expected = torch.tensor([MMFFPotential(mol).energy_forces(x)[0] for x in xs], dtype=torch.float64)
    torch.testing.assert_close(potential(state), expected, rtol=1e-10, atol=1e-12)
    # zero velocities: the total energy is the potential energy
    torch.testing.assert_close(TotalEnergy(potential)(state).squeeze(1), expected, rtol=1e-10, atol=1e-12)
    # float32 graphs: the terms follow the positions' dtype
    assert potential(state.to(dtype=torch.float32)).dtype == torch.float32


def test_torch_potential_refuses_a_wrong_batch():
    mol = embedded(MOLECULES["ethanol"])
    potential = mmff_torch_potential(MMFFTerms.from_mol(mol))
    other = embedded("CCN")  # ethylamine: 10 atoms, ethanol 9
    with pytest.raises(ConfigError, match="atoms"):
        potential(graph_batch(other, geometries(other, count=1)))
    renumbered = Chem.RenumberAtoms(mol, list(range(mol.GetNumAtoms()))[::-1])
    with pytest.raises(ConfigError, match="atomic numbers"):
        potential(graph_batch(renumbered, geometries(renumbered, count=1)))
    with pytest.raises(ConfigError, match="every atom"):
        mmff_torch_potential(mol, atom_index=[0, 1, 2])
    with pytest.raises(ConfigError, match=r"\(9, 3\)"):
        mmff_energy(MMFFTerms.from_mol(mol), torch.zeros(8, 3, dtype=torch.float64))


def test_unusable_molecules_are_refused():
    with pytest.raises(MissingConformerError, match="conformer"):
        MMFFTerms.from_mol(Chem.AddHs(Chem.MolFromSmiles("CCO")))
    with pytest.raises(InvalidMoleculeError, match="implicit hydrogens"):
        MMFFTerms.from_mol(Chem.MolFromSmiles("CCO"))
    with pytest.raises(InvalidMoleculeError, match="MMFF94 has no parameters for B"):
        MMFFTerms.from_mol(embedded("CB(C)C"))


def test_speed_against_rdkit_loop():
    """Printed, not asserted: one batched torch evaluation of 64 aspirin geometries vs an RDKit loop."""
    mol = embedded(MOLECULES["aspirin"])
    terms = MMFFTerms.from_mol(mol)
    field, _ = rdkit_field(mol)
    x0 = mol.GetConformer().GetPositions()
    xs = x0 + np.random.default_rng(1).normal(scale=0.1, size=(64, *x0.shape))
    pos = torch.tensor(xs, dtype=torch.float64)

    def best(function, repeats=20):
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            function()
            times.append(time.perf_counter() - start)
        return min(times)

    def torch_forces():
        p = pos.clone().requires_grad_(True)
        torch.autograd.grad(mmff_energy(terms, p).sum(), p)

    coords = [x.ravel().tolist() for x in xs]
    torch_energy = best(lambda: mmff_energy(terms, pos))
    torch_both = best(torch_forces)
    rdkit_energy = best(lambda: [field.CalcEnergy(c) for c in coords])
    rdkit_both = best(lambda: [(field.CalcEnergy(c), field.CalcGrad(c)) for c in coords])
    print(
        f"\n64 aspirin geometries, float64 CPU: torch energy {torch_energy * 1e3:.2f} ms, energy+forces "
        f"{torch_both * 1e3:.2f} ms; RDKit CalcEnergy loop {rdkit_energy * 1e3:.2f} ms, "
        f"CalcEnergy+CalcGrad loop {rdkit_both * 1e3:.2f} ms"
    )
