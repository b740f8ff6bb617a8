"""Atom and bond features: widths, one-hot blocks, and the features of atoms whose chemistry is known."""

import itertools

import numpy as np
import pytest
import torch
from rdkit import Chem

import chemnoether  # noqa: F401  (before dgl, see chemnoether._dgl_compat)
from chemnoether import keys
from chemnoether.featurize import (
    ATOM_FEATURES,
    BOND_FEATURES,
    DEFAULT_ATOM_FEATURIZER,
    DEFAULT_BOND_FEATURIZER,
    ELEMENTS,
    Feature,
    Featurizer,
    atom_feature_widths,
    bond_feature_widths,
    smiles_to_graph,
)

ATOM_SLICES = DEFAULT_ATOM_FEATURIZER.slices()
BOND_SLICES = DEFAULT_BOND_FEATURIZER.slices()
ATOM_FEATURE = {f.name: f for f in ATOM_FEATURES}
BOND_FEATURE = {f.name: f for f in BOND_FEATURES}

VARIED = [
    "CCO", "CC(=O)Oc1ccccc1C(=O)O", "Cn1c(=O)c2c(ncn2C)n(C)c1=O", "C1CCC2(CC1)CCCC2",
    "[NH3+]CC(=O)[O-]", "CC(=O)[O-].[Na+]", "[CH3]", "[13CH4]", "[2H]O[2H]", "C[C@H](N)C(=O)O",
    "C/C=C/C", "C[Hg]C", "[cH-]1cccc1.[cH-]1cccc1.[Fe+2]", "CS(=O)(=O)N", "OP(=O)(O)O", "FC(Cl)(Br)I",
]  # fmt: skip


def node_attrs(smiles, **options):
    return smiles_to_graph(smiles, **options).nodes[keys.ATOM].data[keys.NODE_ATTRS]


def block(smiles, name, **options):
    return node_attrs(smiles, **options)[:, ATOM_SLICES[name]]


def hot(smiles, name, **options):
    """Column of the one-hot of feature ``name``, per atom."""
    return block(smiles, name, **options).argmax(dim=1).tolist()


# --- widths --------------------------------------------------------------------------------


def test_widths_add_up():
    assert DEFAULT_ATOM_FEATURIZER.width == sum(atom_feature_widths().values())
    assert DEFAULT_BOND_FEATURIZER.width == sum(bond_feature_widths().values())
    for featurizer in (DEFAULT_ATOM_FEATURIZER, DEFAULT_BOND_FEATURIZER):
        slices = list(featurizer.slices().values())
        assert slices[0].start == 0 and slices[-1].stop == featurizer.width
        assert all(a.stop == b.start for a, b in itertools.pairwise(slices))
        assert [s.stop - s.start for s in slices] == list(featurizer.widths().values())
    # categorical features carry one "other" column beyond their choices
    assert atom_feature_widths()["element"] == len(ELEMENTS) + 1
    graph = smiles_to_graph("CC(=O)O")
    assert graph.nodes[keys.ATOM].data[keys.NODE_ATTRS].shape[1] == DEFAULT_ATOM_FEATURIZER.width
    assert graph.edges[keys.BOND].data[keys.EDGE_ATTRS].shape[1] == DEFAULT_BOND_FEATURIZER.width
    assert graph.edges[keys.BOND].data[keys.EDGE_ATTRS].dtype == torch.float32


@pytest.mark.parametrize("explicit", [False, True])
def test_every_one_hot_block_has_exactly_one_hot_column(explicit):
    for smiles in VARIED:
        graph = smiles_to_graph(smiles, explicit_hydrogens=explicit)
        attrs = graph.nodes[keys.ATOM].data[keys.NODE_ATTRS]
        for feature in ATOM_FEATURES:
            values = attrs[:, ATOM_SLICES[feature.name]]
            if feature.choices is not None:
                assert set(values.unique().tolist()) <= {0.0, 1.0}, (smiles, feature.name)
                assert (values.sum(dim=1) == 1).all(), (smiles, feature.name)
        edges = graph.edges[keys.BOND].data[keys.EDGE_ATTRS]
        for feature in BOND_FEATURES:
            if feature.choices is not None:
                assert (edges[:, BOND_SLICES[feature.name]].sum(dim=1) == 1).all(), (smiles, feature.name)


def test_atom_features_agree_with_rdkit_atom_by_atom():
    for smiles in VARIED:
        mol = Chem.MolFromSmiles(smiles)
        atoms = list(mol.GetAtoms())
        attrs = node_attrs(smiles)
        column = {name: attrs[:, cols] for name, cols in ATOM_SLICES.items()}.__getitem__
        assert column("element").argmax(1).tolist() == [ELEMENTS.index(a.GetSymbol()) for a in atoms]
        assert column("degree").argmax(1).tolist() == [a.GetDegree() for a in atoms]
        assert column("aromatic")[:, 0].tolist() == [float(a.GetIsAromatic()) for a in atoms]
        assert column("in_ring")[:, 0].tolist() == [float(a.IsInRing()) for a in atoms]
        np.testing.assert_allclose(column("mass")[:, 0].numpy(), [a.GetMass() / 100 for a in atoms], rtol=1e-6)


def test_bond_features_follow_each_edge_bond():
    smiles = "CC(=O)Oc1ccccc1C#N"
    mol = Chem.MolFromSmiles(smiles)
    graph = smiles_to_graph(smiles)
    attrs = graph.edges[keys.BOND].data[keys.EDGE_ATTRS]
    bond_types = BOND_FEATURE["bond_type"].choices
    for k, (i, j) in enumerate(zip(*(t.tolist() for t in graph.edges(etype=keys.BOND)))):
        bond = mol.GetBondBetweenAtoms(i, j)
        row = attrs[k]
        assert row[BOND_SLICES["bond_type"]].argmax().item() == bond_types.index(bond.GetBondType())
        assert row[BOND_SLICES["conjugated"]].item() == float(bond.GetIsConjugated())
        assert row[BOND_SLICES["bond_in_ring"]].item() == float(bond.IsInRing())


# --- chemistry of known atoms ----------------------------------------------------------------


def test_hybridization_and_degree_of_known_atoms():
    sp, sp2, sp3 = (
        ATOM_FEATURE["hybridization"].choices.index(getattr(Chem.HybridizationType, h)) for h in ("SP", "SP2", "SP3")
    )
    hybrid = hot("CC(C)=O", "hybridization")
    assert hybrid == [sp3, sp2, sp3, sp2]  # the carbonyl C and O are sp2, the methyls sp3
    assert hot("CC(C)=O", "degree")[1] == 3
    assert hot("CC#N", "hybridization") == [sp3, sp, sp]
    assert hot("C", "num_hs") == [4] and hot("C", "degree") == [0]
    assert hot("CC(C)=O", "num_hs") == [3, 0, 3, 0]


def test_aromatic_and_ring_flags():
    assert block("c1ccccc1", "aromatic")[:, 0].tolist() == [1.0] * 6
    assert block("C1CCCCC1", "aromatic")[:, 0].tolist() == [0.0] * 6
    assert block("C1CCCCC1", "in_ring")[:, 0].tolist() == [1.0] * 6
    assert block("Cc1ccccc1", "in_ring")[:, 0].tolist() == [0.0] + [1.0] * 6


def test_enantiomers_differ_in_the_chirality_columns_only():
    left, right = "C[C@H](N)C(=O)O", "C[C@@H](N)C(=O)O"
    a, b = node_attrs(left), node_attrs(right)
    chirality = ATOM_SLICES["chirality"]
    assert not torch.equal(a[1, chirality], b[1, chirality])
    assert torch.equal(a[:, : chirality.start], b[:, : chirality.start])
    assert torch.equal(a[:, chirality.stop :], b[:, chirality.stop :])
    choices = ATOM_FEATURE["chirality"].choices
    for smiles in (left, right):
        tag = Chem.MolFromSmiles(smiles).GetAtomWithIdx(1).GetChiralTag()
        assert tag in (Chem.ChiralType.CHI_TETRAHEDRAL_CW, Chem.ChiralType.CHI_TETRAHEDRAL_CCW)
        assert hot(smiles, "chirality")[1] == choices.index(tag)
    unspecified = choices.index(Chem.ChiralType.CHI_UNSPECIFIED)
    assert hot("CC(N)C(=O)O", "chirality") == [unspecified] * 6


def test_double_bond_stereo_tells_e_from_z():
    def stereo_columns(smiles):
        graph = smiles_to_graph(smiles)
        return graph.edges[keys.BOND].data[keys.EDGE_ATTRS][:, BOND_SLICES["stereo"]].argmax(dim=1).tolist()

    choices = BOND_FEATURE["stereo"].choices
    e_cols, z_cols = stereo_columns("C/C=C/C"), stereo_columns("C/C=C\\C")
    for smiles, cols in (("C/C=C/C", e_cols), ("C/C=C\\C", z_cols)):
        double = Chem.MolFromSmiles(smiles).GetBondBetweenAtoms(1, 2)
        assert double.GetStereo() in (Chem.BondStereo.STEREOE, Chem.BondStereo.STEREOZ)
        # bond 1 (C1=C2) gives edges 2 and 3
        assert cols[2] == cols[3] == choices.index(double.GetStereo())
    assert e_cols[2] != z_cols[2]
    none = choices.index(Chem.BondStereo.STEREONONE)
    assert e_cols[:2] == z_cols[:2] == [none, none]


def test_charge_radical_and_isotope_columns():
    charges = ATOM_FEATURE["formal_charge"].choices
    assert hot("[NH3+]CC(=O)[O-]", "formal_charge") == [charges.index(c) for c in (1, 0, 0, 0, -1)]
    radicals = ATOM_FEATURE["radical_electrons"].choices
    assert hot("[CH3]", "radical_electrons") == [radicals.index(1)]
    assert hot("C", "radical_electrons") == [radicals.index(0)]
    assert hot("[CH2]", "radical_electrons") == [radicals.index(2)]
    isotope_width = atom_feature_widths()["isotope"]
    # an unspecified isotope and a specified one fall in different columns; 12C and 13C alike
    assert hot("C", "isotope") != hot("[13CH4]", "isotope")
    assert hot("[13CH4]", "isotope") == hot("[12CH4]", "isotope") == [isotope_width - 1]
    assert hot("[2H]O[2H]", "isotope") == [isotope_width - 1, hot("O", "isotope")[0], isotope_width - 1]
    assert block("[13CH4]", "mass").item() == pytest.approx(0.1300335, abs=1e-6)


def test_values_outside_the_choices_land_in_the_other_column():
    other = atom_feature_widths()["element"] - 1
    assert hot("[Th]", "element", unknown_elements="other") == [other]
    charges_other = atom_feature_widths()["formal_charge"] - 1
    assert hot("[Fe+3]", "formal_charge") == [charges_other]


# --- the Featurizer itself -------------------------------------------------------------------


def test_featurizer_encodes_categorical_and_numeric_features():
    parity = Feature("parity", lambda n: n % 3, (0, 1))
    size = Feature("size", float, None, scale=0.5)
    featurizer = Featurizer([parity, size])
    assert featurizer.width == 4 and featurizer.widths() == {"parity": 3, "size": 1}
    out = featurizer([0, 1, 2, 4])
    assert out.dtype == np.float32
    np.testing.assert_array_equal(
        out, [[1, 0, 0, 0.0], [0, 1, 0, 0.5], [0, 0, 1, 1.0], [0, 1, 0, 2.0]]
    )
    assert featurizer([]).shape == (0, 4)
    assert len(featurizer.describe().splitlines()) == 2


def test_featurizer_refuses_duplicate_names():
    f = Feature("x", float)
    with pytest.raises(ValueError, match="unique"):
        Featurizer([f, f])


def test_custom_atom_featurizer_is_used_by_the_graph():
    z_only = Featurizer([Feature("z", Chem.Atom.GetAtomicNum)])
    attrs = node_attrs("CCO", atom_featurizer=z_only)
    assert attrs.shape == (3, 1) and attrs[:, 0].tolist() == [6.0, 6.0, 8.0]


@pytest.mark.parametrize("explicit_hydrogens", [False, True])
def test_values_taken_from_the_graph_equal_rdkit_per_atom_calls(explicit_hydrogens):
    # degree, in_ring and bond_in_ring come from the bond list and the rings, not from RDKit
    # per atom: they must equal what the RDKit calls give
    from chemnoether.featurize import DEFAULT_BOND_FEATURIZER, mol_to_graph

    smiles = ["C12C3C4C1C5C2C3C45", "C1CCC2(CC1)CCCC2", "c1ccc2ccccc2c1", "CC(=O)[O-].[Na+]", "[CH3]", "C#N"]
    for smi in smiles:
        mol = Chem.MolFromSmiles(smi)
        if explicit_hydrogens:
            mol = Chem.AddHs(mol)
        graph = mol_to_graph(mol, explicit_hydrogens=explicit_hydrogens)
        atoms = [mol.GetAtomWithIdx(i) for i in range(mol.GetNumAtoms())]
        bonds = [mol.GetBondWithIdx(i) for i in range(mol.GetNumBonds())]
        expected_atoms = torch.from_numpy(DEFAULT_ATOM_FEATURIZER(atoms))
        expected_bonds = torch.from_numpy(DEFAULT_BOND_FEATURIZER(bonds)).repeat_interleave(2, dim=0)
        assert torch.equal(graph.nodes["atom"].data["node_attrs"], expected_atoms), smi
        assert torch.equal(graph.edges["bond"].data["edge_attrs"], expected_bonds), smi
