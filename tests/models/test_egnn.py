"""EGNNDynamics: where DGL cannot go, periodic images, and its start near constant velocity."""

import pytest
import torch

from chemnoether import keys
from chemnoether.errors import ConfigError
from chemnoether.models import ConstantVelocity, EGNNDynamics

from .conftest import HCO, batch_of


def test_a_device_dgl_cannot_use_is_refused_clearly(ethanol):
    net = EGNNDynamics(HCO, hidden=8, layers=1)
    batch = batch_of(ethanol, starts=(0,)).to("meta")  # stands in for CUDA with a CPU-only DGL
    with pytest.raises(ConfigError, match="CPU"):
        net.to("meta")(batch)


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
