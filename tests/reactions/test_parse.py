"""parse_reaction: the three sides, atom maps, and a clear error for every kind of malformed input."""

import pytest
from rdkit import Chem

import chemnoether  # noqa: F401 - before anything that imports dgl
from chemnoether.errors import (
    ChemNoetherError,
    InvalidMoleculeError,
    UnsupportedElementError,
)
from chemnoether.reactions import (
    Reaction,
    ReactionElementError,
    ReactionParseError,
    parse_reaction,
)

MAPPED = "[CH3:1][C:2](=[O:3])Cl.[NH2:4][CH3:5]>>[CH3:1][C:2](=[O:3])[NH:4][CH3:5]"


def test_mapped_reaction_sides():
    r = parse_reaction(MAPPED)
    assert isinstance(r, Reaction)
    assert r.text == MAPPED
    assert r.mapped
    assert len(r.reactant_mols) == 2 and len(r.reagent_mols) == 0 and len(r.product_mols) == 1
    assert r.reactants.GetNumAtoms() == 6 and r.products.GetNumAtoms() == 5
    assert r.reagents.GetNumAtoms() == 0
    assert [m.GetNumAtoms() for m in r.mols("reactants")] == [4, 2]


def test_reagents_are_kept_apart():
    r = parse_reaction("CC(=O)O.OCC>OS(=O)(=O)O.O>CC(=O)OCC")
    assert len(r.reactant_mols) == 2
    assert [Chem.MolToSmiles(m) for m in r.reagent_mols] == ["O=S(=O)(O)O", "O"]
    assert r.reagents.GetNumAtoms() == 6
    assert not r.mapped


def test_unsanitisable_molecules_parse_and_report_on_sanitize():
    r = parse_reaction("CCCCCC>>C(C)(C)(C)(C)C")  # pentavalent carbon: a verdict, not a parse error
    (mol, error), = r.sanitized("products")
    assert mol is None and "valence" in error.lower()
    (mol, error), = r.sanitized("reactants")
    assert mol is not None and error is None


def test_hydrogen_counts_available_without_sanitising():
    r = parse_reaction("[CH3:1][OH:2]>>[CH3:1][O:2]C")
    assert [a.GetTotalNumHs() for a in r.reactants.GetAtoms()] == [3, 1]
    assert [a.GetTotalNumHs() for a in r.products.GetAtoms()] == [3, 0, 3]


def test_cxsmiles_extension_is_ignored():
    r = parse_reaction("CCO.CC>>CCOC |f:0.1|")
    assert len(r.reactant_mols) == 2


def test_without_maps_and_with_products():
    r = parse_reaction(MAPPED)
    plain = r.without_maps()
    assert not plain.mapped
    assert all(a.GetAtomMapNum() == 0 for m in plain.reactant_mols + plain.product_mols for a in m.GetAtoms())
    assert plain.text == "CC(=O)Cl.CN>>CNC(C)=O"
    other = plain.with_products("CC(=O)NCC")
    assert other.reactant_mols is plain.reactant_mols
    assert other.text == "CC(=O)Cl.CN>>CCNC(C)=O"
    assert Chem.MolToSmiles(other.products) == "CCNC(C)=O"
    assert plain.product_key() == "CNC(C)=O"


def test_errors_are_chemnoether_errors():
    assert issubclass(ReactionParseError, InvalidMoleculeError)
    assert issubclass(ReactionParseError, ChemNoetherError) and issubclass(ReactionParseError, ValueError)
    assert issubclass(ReactionElementError, UnsupportedElementError)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (None, ["must be a string", "NoneType"]),
        (42, ["must be a string", "int"]),
        ("", ["empty"]),
        ("   ", ["empty"]),
        ("CCO", ["0 '>'", "reactants>>products"]),
        ("CCO>CC", ["1 '>'"]),
        ("C>C>C>C", ["3 '>'"]),
        (">>CC", ["empty reactant side"]),
        ("CC>O>", ["empty product side"]),
        ("CC..O>>CC", ["reactant 2", "empty molecule"]),
        ("CC.C(>>CC", ["reactant 2", "cannot parse", "'C('"]),
        ("CC>>CC.C1CC", ["product 2", "cannot parse", "'C1CC'"]),
        ("CC>[Xx]>CC", ["reagent 1", "cannot parse"]),
        ("CC junk>>CC", ["unexpected text"]),
        ("[CH3:1][OH:2]>>[CH3:1][OH:3]", ["[3]", "point to no reactant atom"]),
        ("[CH3:1][OH:1]>>[CH3:1]O", ["[1]", "more than once", "reactant/reagent"]),
        ("[CH3:1]C[OH:2]>>[CH3:1][CH3:1]", ["[1]", "more than once", "product"]),
        ("[CH3:1]O>[OH2:1]>[CH3:1]O", ["[1]", "more than once"]),
    ],
)
def test_bad_input_names_input_and_problem(text, words):
    with pytest.raises(ReactionParseError) as info:
        parse_reaction(text)
    message = str(info.value)
    for word in words:
        assert word in message, message
    if isinstance(text, str) and text.strip():
        assert repr(text) in message  # the input itself is quoted


@pytest.mark.parametrize("text", ["*CC>>CC", "CC>>[*]C", "CC>[*:3]>CC"])
def test_dummy_atoms_are_unsupported_elements(text):
    with pytest.raises(ReactionElementError, match="dummy atom"):
        parse_reaction(text)
    with pytest.raises(UnsupportedElementError):
        parse_reaction(text)


def test_product_map_may_point_to_a_reagent_atom():
    r = parse_reaction("[CH3:1][OH:2]>[Cl:3]S(Cl)=O>[CH3:1][Cl:3]")
    assert r.mapped


def test_partly_mapped_product_is_mapped():
    assert parse_reaction("[CH3:1]O>>[CH3:1]OC").mapped


def test_sanitized_rejects_unknown_side():
    with pytest.raises(ValueError, match="side="):
        parse_reaction("C>>C").sanitized("solvents")
