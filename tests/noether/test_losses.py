"""The Noether loss is a sum over graphs of the squared change of g along the states."""

from dataclasses import replace

import pytest
import torch

from chemnoether import keys
from chemnoether.errors import ConfigError
from chemnoether.noether import LinearMomentum, noether_loss, noether_loss_per_graph

from .conftest import batch_of, graphs_of


def kicked(state, amount):
    return replace(state, atom={**state.atom, keys.VEL: state.atom[keys.VEL] + amount})


def test_initial_and_consecutive_forms(ethanol):
    x0 = batch_of(graphs_of(ethanol, [0]))
    mass = float(x0.atom[keys.MASSES].sum())
    states = [x0, kicked(x0, 0.01), kicked(x0, 0.03)]  # momentum moves by 0.01 M, then 0.02 M more per component
    g = LinearMomentum()
    initial = noether_loss(g, states, "initial")
    consecutive = noether_loss(g, states, "consecutive")
    torch.testing.assert_close(initial, torch.tensor(3 * mass**2 * (0.01**2 + 0.03**2), dtype=torch.float64))
    torch.testing.assert_close(consecutive, torch.tensor(3 * mass**2 * (0.01**2 + 0.02**2), dtype=torch.float64))


def test_sum_over_graphs_not_mean(ethanol, toluene):
    graphs = graphs_of(ethanol, [0]) + graphs_of(toluene, [5])
    g = LinearMomentum()

    def loss(batch):
        return noether_loss(g, [batch, kicked(batch, 0.01), kicked(batch, -0.02)])

    single = loss(batch_of(graphs))
    doubled = loss(batch_of(graphs + graphs))
    torch.testing.assert_close(doubled, 2 * single)
    per_graph = noether_loss_per_graph(g, [batch_of(graphs), kicked(batch_of(graphs), 0.01)])
    assert per_graph.shape == (2,)


def test_bad_arguments(ethanol):
    x0 = batch_of(graphs_of(ethanol, [0]))
    with pytest.raises(ConfigError):
        noether_loss(LinearMomentum(), [x0])
    with pytest.raises(ConfigError):
        noether_loss(LinearMomentum(), [x0, x0], mode="average")
