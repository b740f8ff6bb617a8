"""The ``tailoring:`` recipe section, g descriptions, and the rebuildable tailored model."""

import pytest
import torch

from chemnoether.errors import ConfigError
from chemnoether.models import build_model
from chemnoether.noether import (
    LinearMomentum,
    NoetherEmbedding,
    noether_loss_per_graph,
    rollout,
)
from chemnoether.noether.recipe import TailoringSection, g_from_spec, g_spec, tailored
from chemnoether.train import recipe_from_dict

from .conftest import HCO, batch_of, graphs_of, tiny_model


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"steps": 0}, "steps"),
        ({"lr": -1.0}, "lr"),
        ({"lr": 0.0}, "lr"),
        ({"optimizer": "rmsprop"}, "optimizer"),
        ({"g": "entropy"}, "tailoring.g"),
        ({"k": 0}, "tailoring.k"),
        ({"anchor": "end"}, "anchor"),
    ],
)
def test_bad_sections_are_refused_naming_the_key(changes, message):
    with pytest.raises(ConfigError, match=message):
        TailoringSection(**changes)


def test_recipe_without_the_section_has_no_tailoring():
    recipe = recipe_from_dict({"model": {"kind": "equivariant"}}, schemas={"tailoring": TailoringSection})
    assert recipe.tailoring is None
    recipe = recipe_from_dict({"tailoring": {"steps": 2}}, ["tailoring.lr=0.5"], schemas={"tailoring": TailoringSection})
    assert recipe.tailoring.steps == 2 and recipe.tailoring.lr == 0.5


def test_g_descriptions_round_trip():
    learned = g_from_spec(TailoringSection(k=3, hidden=8, layers=1).g_spec(HCO, None))
    assert isinstance(learned, NoetherEmbedding) and learned.k == 3
    twin = g_from_spec(g_spec(learned))
    assert twin.config == learned.config
    assert isinstance(g_from_spec(g_spec(LinearMomentum())), LinearMomentum)
    with pytest.raises(ConfigError, match="kind one of"):
        g_from_spec({"kind": "mystery"})
    with pytest.raises(ConfigError, match="SMILES"):
        TailoringSection(g="energy").g_spec(HCO, None)


def test_tailored_model_rebuilds_from_its_config(ethanol):
    model = tailored(tiny_model(), TailoringSection(g="learned", k=2, hidden=4, layers=1, learn_lr=True))
    model.double()
    twin = build_model(model.kind, **model.config).double()
    twin.load_state_dict(model.state_dict())
    batch = batch_of(graphs_of(ethanol, (0, 10)))
    torch.testing.assert_close(twin(batch).pos, model(batch).pos, rtol=0, atol=0)


def test_reference_stands_in_for_the_first_state(ethanol):
    model = tiny_model()
    batch = batch_of(graphs_of(ethanol, (0, 10)))
    states = rollout(model, batch, None, 2)
    g = LinearMomentum()
    plain = noether_loss_per_graph(g, states)
    torch.testing.assert_close(noether_loss_per_graph(g, states, reference=g(batch)), plain)
    shifted = noether_loss_per_graph(g, states, reference=g(batch) + 1.0)
    assert (shifted > plain).all()
    with pytest.raises(ConfigError, match="shape"):
        noether_loss_per_graph(g, states, reference=torch.zeros(5, 3, dtype=torch.float64))


def test_energy_oracle_matches_the_generation_potential(ethanol):
    from chemnoether.simulation.generate import make_potential, prepare_molecule
    from chemnoether.evaluate.physics import kinetic_energy

    g = g_from_spec({"kind": "energy", "smiles": "CCO"})
    batch = batch_of(graphs_of(ethanol, (0, 10)))
    pos = batch.atom["pos"].reshape(2, -1, 3).numpy()
    vel = batch.atom["vel"].reshape(2, -1, 3).numpy()
    reference = make_potential("mmff", prepare_molecule("CCO"))
    expected = [reference.energy_forces(p)[0] for p in pos] + kinetic_energy(ethanol.masses, vel)
    torch.testing.assert_close(g(batch).squeeze(1), torch.as_tensor(expected), rtol=1e-9, atol=1e-9)


def test_pretraining_makes_g_conserved_along_true_steps_and_not_off_them(ethanol):
    from chemnoether.data import PairWindows
    from chemnoether.noether.pretrain import conservation_contrast, pretrain_embedding

    train = PairWindows(ethanol, 5, list(range(0, 50, 2)), graph="smiles", cutoff=5.0, dtype=torch.float64)
    torch.manual_seed(0)
    g = NoetherEmbedding(HCO, k=4, hidden=16, layers=1).double()
    batch = batch_of([train[i] for i in range(len(train))])

    def contrast():
        with torch.no_grad():
            return float(conservation_contrast(g, batch, 0.02, 0.2, torch.Generator().manual_seed(1)))

    before = contrast()
    losses = pretrain_embedding(g, train, 20, batch_size=25, lr=3e-3, seed=0)
    assert len(losses) == 20
    assert contrast() < 0.5 * before


def test_pretraining_shows_progress_when_asked(ethanol, capsys):
    from chemnoether.data import PairWindows
    from chemnoether.noether.pretrain import pretrain_embedding

    train = PairWindows(ethanol, 5, list(range(0, 20, 2)), graph="smiles", cutoff=5.0, dtype=torch.float64)
    g = NoetherEmbedding(HCO, k=4, hidden=8, layers=1).double()
    pretrain_embedding(g, train, 3, batch_size=5, seed=0)
    assert "pre-training g" not in capsys.readouterr().err
    pretrain_embedding(g, train, 3, batch_size=5, seed=0, progress=True)
    assert "pre-training g" in capsys.readouterr().err


def test_pretraining_is_for_a_learned_g():
    with pytest.raises(ConfigError, match="pretrain_steps"):
        TailoringSection(g="energy", pretrain_steps=10)
    with pytest.raises(ConfigError, match="pretrain_position_noise"):
        TailoringSection(pretrain_position_noise=-1.0)


class _PositionMean(torch.nn.Module):
    """Not invariant: the mean x coordinate of each graph's atoms."""

    def forward(self, state):
        from chemnoether.core.ops import pool_atoms

        return pool_atoms(state.atom["pos"][:, :1], state.atom_graph, state.num_graphs)


def test_a_g_whose_loss_depends_on_orientation_is_refused(ethanol):
    from chemnoether.noether import AngularMomentum, NoetherTailoredModel
    from chemnoether.noether.checks import noether_loss_invariance_error

    batch = batch_of(graphs_of(ethanol, (0, 10)))
    model = tiny_model()
    with pytest.raises(ConfigError, match="not usable for tailoring"):
        NoetherTailoredModel(model, _PositionMean())(batch)
    # invariant and vector-valued gs pass: only the loss has to be invariant
    for g in (NoetherEmbedding(HCO, k=2, hidden=4, layers=1).double(), LinearMomentum(), AngularMomentum()):
        error, scale = noether_loss_invariance_error(g, batch)
        assert scale > 0 and error <= 1e-8 * (1 + scale)
        NoetherTailoredModel(model, g)(batch)
