"""How a mechanistic step is rated: every product of an equation written with hydrogens as atoms,
so the score does not depend on how the writer wrote the step (spectators, counter-ions, a
by-product left out, atom order and maps), while a record without H atoms keeps its main product."""

import numpy as np
import pytest
import torch
from rdkit import Chem

import chemnoether  # noqa: F401 - before anything that imports dgl
from chemnoether.reactions import parse_reaction, score_reactions
from chemnoether.reactions.reaction_g import reaction_sides
from chemnoether.reactions.scorer import ReactionScorer

# acetone protonated by hydronium, hydrogens as atoms (as steps.py writes it)
STEP = "[H]C([H])([H])C(=O)C([H])([H])[H].[H][O+]([H])[H]>>[H]C([H])([H])C(=[O+][H])C([H])([H])[H].[H]O[H]"


def _explicit(smiles: str) -> str:
    return Chem.MolToSmiles(Chem.AddHs(Chem.MolFromSmiles(smiles)))


def _shuffled_with_maps(side: str, seed: int) -> str:
    """Each molecule of ``side`` with its atoms in a random order and numbered by atom maps."""
    rng = np.random.default_rng(seed)
    out, n = [], 0
    for smiles in side.split("."):
        mol = Chem.MolFromSmiles(smiles, sanitize=False)
        mol = Chem.RenumberAtoms(mol, [int(i) for i in rng.permutation(mol.GetNumAtoms())])
        for atom in mol.GetAtoms():
            n += 1
            atom.SetAtomMapNum(n)
        out.append(Chem.MolToSmiles(mol, canonical=False))
    return ".".join(out)


def test_a_step_rates_every_product_a_record_its_main_product():
    reactants, products = reaction_sides(parse_reaction(STEP))
    assert sorted(reactants) == ["CC(C)=O", "[OH3+]"] and sorted(products) == ["CC(C)=[OH+]", "O"]
    # the same equation without H atoms is read as a record: the main product alone
    assert reaction_sides(parse_reaction("CC(C)=O.[OH3+]>>CC(C)=[OH+].O"))[1] == ["CC(C)=[OH+]"]


def test_a_left_out_byproduct_is_inferred():
    left, right = STEP.split(">>")
    without_water = left + ">>" + right.split(".")[0]
    assert reaction_sides(parse_reaction(without_water)) == reaction_sides(parse_reaction(STEP))


@pytest.fixture(scope="module")
def scorer():
    torch.manual_seed(0)
    return ReactionScorer({"k": 8, "hidden": 16, "layers": 2}, head_hidden=8).eval()


def test_the_learned_score_ignores_how_the_step_is_written(scorer):
    left, right = STEP.split(">>")
    sodium, water = _explicit("[Na+]"), _explicit("O")
    variants = [
        STEP,
        f"{left}.{sodium}.[Cl-]>>{right}.{sodium}.[Cl-]",  # counter-ions written on both sides
        f"{left}.{water}>>{right}.{water}",  # a solvent water on both sides
        f"{_shuffled_with_maps(left, 1)}>>{_shuffled_with_maps(right, 2)}",  # atom order and maps
        f"{left}>>{right.split('.')[0]}",  # the water by-product left out
    ]
    table = score_reactions(variants, model=scorer)
    assert table["ok"].all(), table["error"].tolist()
    assert np.allclose(table["learned_score"], table["learned_score"].iloc[0], rtol=0, atol=1e-6)
    # a different step (the enol, not the protonated ketone) is rated differently by the same model
    other = score_reactions([_explicit("CC(C)=O") + ">>" + _explicit("C=C(C)O")], model=scorer)
    assert abs(other["learned_score"].iloc[0] - table["learned_score"].iloc[0]) > 1e-6
