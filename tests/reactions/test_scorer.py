"""The reaction embedding g and the scorer: additivity, invariance, checkpoints, a training smoke test."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from rdkit import Chem

import chemnoether  # noqa: F401 - before anything that imports dgl
from chemnoether.core.tensors import GraphTensors
from chemnoether.errors import CheckpointError, InvalidMoleculeError
from chemnoether.featurize import featurize_mols
from chemnoether.reactions import parse_reaction
from chemnoether.reactions.reaction_g import (
    MoleculeTable,
    ReactionEmbedding,
    canonical_smiles,
    side_embedding,
)
from chemnoether.reactions.scorer import (
    ReactionScorer,
    fit_logistic,
    load_scorer,
    save_scorer,
)
from chemnoether.reactions.train_scorer import (
    ExampleSet,
    auroc,
    batch_loss,
    example_set,
    partition,
    split_of,
)

SAMPLE = Path(__file__).parent / "data" / "uspto50k_sample.csv"
MOLECULES = ["CCO", "c1ccc2ccccc2c1", "CC(=O)Nc1ccc(Cl)cc1", "O=C(O)C1CCN(C(=O)OC(C)(C)C)CC1", "[Na+].[Cl-]"]


@pytest.fixture(scope="module")
def embedding():
    torch.manual_seed(0)
    return ReactionEmbedding(k=8, hidden=16, layers=2).double()


def _g(embedding, batch: GraphTensors) -> torch.Tensor:
    return embedding(batch.to(dtype=torch.float64))


def test_canonical_smiles_drops_maps_and_stereo():
    mol = Chem.MolFromSmiles("[CH3:1][C@H:2](N)[OH:3]", sanitize=False)
    assert canonical_smiles(mol) == "CC(N)O"
    with pytest.raises(InvalidMoleculeError, match="does not sanitise"):
        canonical_smiles(Chem.MolFromSmiles("C(C)(C)(C)(C)C", sanitize=False))


def test_table_batches_equal_the_featurizer_graphs(embedding):
    table = MoleculeTable(chunk_size=2)
    ids = table.add(MOLECULES + ["C[U]"])
    assert ids[:5] == [0, 1, 2, 3, 4] and ids[5][0] == "UnsupportedElementError"
    reference = GraphTensors.from_graph(featurize_mols([Chem.MolFromSmiles(s) for s in MOLECULES]).batched())
    order = [3, 0, 4, 1, 2, 0]
    expected = _g(embedding, reference)[order]
    assert torch.allclose(_g(embedding, table.batch(order)), expected, atol=1e-10)


def test_g_is_additive_over_molecules(embedding):
    table = MoleculeTable()
    table.add(MOLECULES)
    per_molecule = _g(embedding, table.batch([0, 1, 2, 3]))
    sides = side_embedding(per_molecule, torch.tensor([0, 0, 1, 1]), 2)
    # one disconnected molecule "A.B" is featurised as the union of its parts
    [ab, cd] = table.add([".".join(MOLECULES[:2]), ".".join(MOLECULES[2:4])])
    together = _g(embedding, table.batch([ab, cd]))
    assert torch.allclose(sides, together, atol=1e-9)
    assert torch.allclose(sides[0], per_molecule[0] + per_molecule[1])


def test_g_is_invariant_to_atom_order(embedding):
    rng = np.random.default_rng(0)
    mols = [Chem.MolFromSmiles(s) for s in MOLECULES]
    shuffled = [Chem.RenumberAtoms(m, rng.permutation(m.GetNumAtoms()).tolist()) for m in mols]
    a = _g(embedding, GraphTensors.from_graph(featurize_mols(mols).batched()))
    b = _g(embedding, GraphTensors.from_graph(featurize_mols(shuffled).batched()))
    assert torch.allclose(a, b, atol=1e-9)


def test_scorer_round_trips_through_a_plain_data_checkpoint(tmp_path):
    torch.manual_seed(1)
    for head in ("mlp", "distance"):
        scorer = ReactionScorer({"k": 4, "hidden": 8, "layers": 1}, head=head, head_hidden=8)
        scorer.platt.copy_(torch.tensor([2.0, -0.5], dtype=torch.float64))
        path = save_scorer(tmp_path / f"{head}.pt", scorer, {"note": "test"})
        assert torch.load(path, weights_only=True)["kind"] == "reaction_scorer"
        again = load_scorer(path)
        g_r, g_p = torch.randn(3, 4), torch.randn(3, 4)
        assert torch.equal(scorer(g_r, g_p), again(g_r, g_p))
        assert again.platt.tolist() == [2.0, -0.5] and again.training_info == {"note": "test"}
    torch.save({"format": "something else"}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not a reaction-scorer checkpoint"):
        load_scorer(tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="no reaction-scorer checkpoint"):
        load_scorer(tmp_path / "missing.pt")


def test_calibration_and_combination():
    rng = np.random.default_rng(0)
    z = np.r_[rng.normal(2, 1, 500), rng.normal(-2, 1, 500)]
    y = np.r_[np.ones(500), np.zeros(500)]
    coef = fit_logistic(z[:, None], y, np.ones(1000))
    assert 3.0 < coef[0] < 5.0 and abs(coef[1]) < 0.3  # the Bayes logit here is 4 z
    scorer = ReactionScorer({"k": 4, "hidden": 8, "layers": 1})
    oracle = np.r_[np.ones(999), 0.0]
    scorer.fit_calibration(z, y, np.ones(1000), oracle)
    p = scorer.combined_probability([0.0, 5.0, 5.0], [1.0, 0.0, 0.5])
    assert p[1] == 0.0 and 0.0 < p[2] < 1.0
    assert np.all(np.diff(scorer.learned_probability([-1.0, 0.0, 1.0])) > 0)


def test_an_oracle_warning_never_raises_the_combined_probability():
    rng = np.random.default_rng(1)
    z = np.r_[rng.normal(2, 1, 500), rng.normal(-2, 1, 500)]
    y = np.r_[np.ones(500), np.zeros(500)]
    oracle = np.ones(1000)
    oracle[:100] = 0.5  # only real examples carry a warning here: the fit alone would reward it
    scorer = ReactionScorer({"k": 4, "hidden": 8, "layers": 1})
    scorer.fit_calibration(z, y, np.ones(1000), oracle)
    assert scorer.combined[2] == 0.0  # the fit wanted a negative weight: refused
    warned, clean = scorer.combined_probability([1.0, 1.0], [0.5, 1.0])
    assert warned <= clean
    scorer.combined.copy_(torch.tensor([1.0, 0.0, -2.0], dtype=torch.float64))  # a checkpoint fitted before the rule
    warned, clean = scorer.combined_probability([1.0, 1.0], [0.5, 1.0])
    assert warned == clean


def test_partition_is_deduplicated_and_split_by_product():
    texts = pd.read_csv(SAMPLE)["reactants>reagents>production"].tolist()
    _, alone = partition(texts)  # the fixture itself has a stereo-free duplicate
    table, info = partition(texts + texts[:3] + ["not a reaction"])
    assert info["dropped"] == {"duplicate": alone["dropped"]["duplicate"] + 3, "unparsable": 1, "unsanitisable": 0}
    assert table.groupby("product")["split"].nunique().max() == 1
    assert set(table["split"]) == {"fit", "val", "test"}
    assert split_of("CCO") == split_of("CCO")
    assert auroc(np.array([2.0, 3.0]), np.array([1.0, 2.0])) == pytest.approx(0.875)


@pytest.fixture
def one_thread():
    # two threads on a shared 2-core machine spin against each other: 5x slower steps
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_a_few_training_steps_reduce_the_loss(one_thread):
    from chemnoether.reactions.train_scorer import (
        _examples_of,  # no pool: D0-D2 and own-template D4
    )

    texts = pd.read_csv(SAMPLE)["reactants>reagents>production"].tolist()[:12]
    reactions, _ = partition(texts)
    rows = [row for k, t in zip(reactions["key"], reactions["text"]) for row in _examples_of((k, t, 2))]
    examples = pd.DataFrame(rows)
    examples["product"] = examples["product"].fillna("")
    table = MoleculeTable()
    data: ExampleSet = example_set(reactions, examples, table)
    assert set(data.family) >= {"real", "D0", "D1", "D2"}
    torch.manual_seed(0)
    scorer = ReactionScorer({"k": 8, "hidden": 16, "layers": 2}, head_hidden=16)
    optimizer = torch.optim.Adam(scorer.parameters(), lr=1e-2)
    every = np.arange(len(data.family))
    weights = data.weights()
    first = batch_loss(scorer, table, data, every, weights, 0.5)[0].item()
    for _ in range(20):
        loss, _ = batch_loss(scorer, table, data, every, weights, 0.5)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert batch_loss(scorer, table, data, every, weights, 0.5)[0].item() < 0.7 * first


def test_parse_reaction_sides_are_what_g_sees():
    reaction = parse_reaction("[CH3:1][OH:2].[ClH:3]>CCOCC>[CH3:1][Cl:3]")
    from chemnoether.reactions.reaction_g import reaction_sides

    assert reaction_sides(reaction) == (["CO", "Cl"], ["CCl"])  # reagents (ether) left out
