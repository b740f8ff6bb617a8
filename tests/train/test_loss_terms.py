"""The stabilising loss terms: multi-step rollout loss, energy and force errors, and when each applies."""

import pytest
import torch

import chemnoether  # noqa: F401 - before dgl
from chemnoether import keys
from chemnoether.data import GraphTensors, PairWindows, RolloutWindows
from chemnoether.simulation import generate_md
from chemnoether.errors import ConfigError, GraphFormatError
from chemnoether.models.equivariant import EquivariantDynamics
from chemnoether.nn.testing import float64_default
from chemnoether.train.config import LossWeights, TrainConfig
from chemnoether.train.loss import energy_force_loss, next_state_loss, rollout_loss, training_loss

HCO = [1, 6, 8]
WEIGHTS = LossWeights(pos=1.0, vel=100.0)


@pytest.fixture(scope="module")
def ethanol():
    return generate_md("ethanol", 80, seed=0, progress=False, equilibration_steps=300)


def tiny(energy_head=False):
    torch.manual_seed(0)
    with float64_default():
        return EquivariantDynamics(HCO, channels=2, layers=1, radial_neurons=4, num_basis=4, energy_head=energy_head).double()


def batch(windows) -> GraphTensors:
    return GraphTensors.from_graph(windows.batch(list(range(len(windows)))))


def test_rollout_loss_is_the_mean_error_of_a_hand_rolled_loop(ethanol):
    model = tiny()
    data = batch(RolloutWindows(ethanol, 10, 3, [0, 20, 40], graph="radius", dtype=torch.float64))
    by_hand, state = [], data
    for step in range(3):
        prediction = model(state)
        target = (data.atom[keys.ROLLOUT_POS][:, step], data.atom[keys.ROLLOUT_VEL][:, step])
        by_hand.append(torch.mean((prediction.pos - target[0]) ** 2) + 100 * torch.mean((prediction.vel - target[1]) ** 2))
        state = type(state)(**{**state.__dict__, "atom": {**state.atom, keys.POS: prediction.pos, keys.VEL: prediction.vel}})
    value = rollout_loss(model, model(data), data, 3, WEIGHTS)
    torch.testing.assert_close(value, sum(by_hand) / 3, rtol=1e-12, atol=0)
    assert by_hand[2] > by_hand[0]  # later steps err more: the term adds something the one-step loss lacks
    torch.testing.assert_close(rollout_loss(model, model(data), data, 1, WEIGHTS),
                               next_state_loss(WEIGHTS)(model(data), data), rtol=1e-12, atol=0)


def test_training_loss_rolls_out_in_training_only(ethanol):
    model = tiny()
    config = TrainConfig(rollout_steps=2, loss_weights=WEIGHTS)
    loss = training_loss(model, config)
    rollouts = batch(RolloutWindows(ethanol, 10, 2, [0, 20], graph="radius", dtype=torch.float64))
    pairs = batch(PairWindows(ethanol, 10, [0, 20], graph="radius", dtype=torch.float64))
    model.train()
    torch.testing.assert_close(loss(model(rollouts), rollouts), rollout_loss(model, model(rollouts), rollouts, 2, WEIGHTS))
    with pytest.raises(GraphFormatError, match="rollout targets of 2 steps"):
        loss(model(pairs), pairs)
    model.eval()  # validation: the one-step loss, comparable between runs with and without the term
    torch.testing.assert_close(loss(model(pairs), pairs), next_state_loss(WEIGHTS)(model(pairs), pairs))
    assert training_loss(model, TrainConfig()).__qualname__ == next_state_loss(WEIGHTS).__qualname__


def test_energy_and_force_terms(ethanol):
    model = tiny(energy_head=True)
    data = batch(PairWindows(ethanol, 10, [0, 20, 40], graph="radius", dtype=torch.float64))
    energy, forces = model.energy_and_forces(data)
    per_atom = (energy - data.system[keys.ENERGY]) / 9
    force_error = torch.mean((forces - data.atom[keys.FORCES]) ** 2)
    both = energy_force_loss(model, data, LossWeights(energy=2.0, forces=3.0))
    torch.testing.assert_close(both, 2.0 * per_atom.pow(2).mean() + 3.0 * force_error, rtol=1e-10, atol=0)
    both.backward()  # differentiable through the forces into the head and the trunk
    assert model.energy_head.mlp[0].weight.grad.abs().sum() > 0
    config = TrainConfig(loss_weights=LossWeights(pos=1.0, vel=1.0, energy=1.0, forces=1.0))
    unlabelled = type(data)(**{**data.__dict__, "atom": {k: v for k, v in data.atom.items() if k != keys.FORCES}})
    with pytest.raises(GraphFormatError, match="forces"):
        training_loss(model, config)(model(unlabelled), unlabelled)
    with pytest.raises(ConfigError, match="energy_head"):
        training_loss(tiny(), config)


@pytest.mark.parametrize(
    ("changes", "key"),
    [({"rollout_steps": 0}, "train.rollout_steps"), ({"input_position_noise": -0.1}, "train.input_position_noise"),
     ({"loss_weights": {"forces": -1.0}}, "train.loss_weights.forces")],
)
def test_training_aid_options_are_checked(changes, key):
    with pytest.raises(ConfigError, match=key):
        TrainConfig(**{k: LossWeights(**v) if k == "loss_weights" else v for k, v in changes.items()})


def test_chemnoether_train_gives_the_aids_to_the_training_windows_only(ethanol):
    from chemnoether.train.cli import _with_training_aids

    windows = PairWindows(ethanol, 10, list(range(0, 40)), graph="radius")
    assert _with_training_aids(windows, TrainConfig()) is windows
    aided = _with_training_aids(windows, TrainConfig(rollout_steps=2, time_reversal=True, input_velocity_noise=0.001))
    assert isinstance(aided, RolloutWindows) and aided.horizon == 2
    assert len(aided) == 2 * 30  # starts 0..29 keep two steps inside frames 0..49; each also reversed
    assert len(windows) == 40 and windows.horizon == 1
