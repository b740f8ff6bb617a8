"""EGNNDynamics: its DGL layers off DGL, periodic images, and its start near constant velocity."""

import dgl
import pytest
import torch
from dgl.nn import EGNNConv

from chemnoether import keys
from chemnoether.errors import ConfigError
from chemnoether.models import ConstantVelocity, EGNNDynamics
from chemnoether.models._egnn_layer import egnn_conv

from .conftest import HCO, batch_of


def test_dgl_layers_run_as_plain_tensors_where_dgl_cannot_go(ethanol):
    # PyPI's DGL is CPU-only: on a GPU the "dgl" backend runs each EGNNConv through egnn_conv
    torch.manual_seed(0)
    conv = EGNNConv(8, 8, 8).double()
    batch = batch_of(ethanol, starts=(0,))
    edge_index = batch.near_index
    n = batch.atom_graph.numel()
    h = torch.randn(n, 8, dtype=torch.float64)
    x = batch.atom[keys.POS]
    graph = dgl.graph((edge_index[0], edge_index[1]), num_nodes=n)
    for ours, theirs in zip(egnn_conv(conv, edge_index, h, x), conv(graph, h, x), strict=True):
        torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-12)


def test_periodic_images_are_refused(ethanol):
    batch = batch_of(ethanol, starts=(0,))
    batch.near[keys.EDGE_SHIFT] = batch.near[keys.EDGE_SHIFT].clone()
    batch.near[keys.EDGE_SHIFT][0, 0] = 10.0
    with pytest.raises(ConfigError, match="periodic"):
        EGNNDynamics(HCO).double()(batch)


def test_untrained_model_is_near_constant_velocity(ethanol):
    torch.manual_seed(0)
    batch = batch_of(ethanol)
    prediction = EGNNDynamics(HCO).double()(batch)
    baseline = ConstantVelocity()(batch)
    assert float((prediction.pos - baseline.pos).detach().abs().max()) < 1e-2
