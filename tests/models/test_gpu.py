"""The equivariant model runs on CUDA with the same code and agrees with CPU (skipped without a GPU)."""

import pytest
import torch

from chemnoether.models import ConstantVelocity, EGNNDynamics, EquivariantDynamics
from chemnoether.nn.testing import (
    assert_equivariant_dynamics,
    assert_momentum_conserved,
    float64_default,
)

from .conftest import HCO, batch_of


@pytest.mark.gpu
def test_equivariant_model_on_cuda_matches_cpu(ethanol):
    torch.manual_seed(0)
    with float64_default():
        net = EquivariantDynamics(HCO, l_max=2).double()
    batch = batch_of(ethanol, "radius")
    on_cpu = net(batch)
    net_gpu, batch_gpu = net.to("cuda"), batch.to("cuda")
    on_gpu = net_gpu(batch_gpu)
    torch.testing.assert_close(on_gpu.pos.cpu(), on_cpu.pos, rtol=0, atol=1e-10)
    torch.testing.assert_close(on_gpu.vel.cpu(), on_cpu.vel, rtol=0, atol=1e-10)
    assert_equivariant_dynamics(net_gpu, batch_gpu, atol=1e-10)
    assert_momentum_conserved(net_gpu, batch_gpu, atol=1e-10)
    assert ConstantVelocity().to("cuda")(batch_gpu).pos.is_cuda


@pytest.mark.gpu
def test_egnn_peer_on_dgl_layers_runs_on_cuda_and_matches_cpu(ethanol):
    torch.manual_seed(0)
    with float64_default():
        net = EGNNDynamics(HCO, hidden=16, layers=2).double()
    batch = batch_of(ethanol, "radius")
    on_cpu = net(batch)
    on_gpu = net.to("cuda")(batch.to("cuda"))
    torch.testing.assert_close(on_gpu.pos.cpu(), on_cpu.pos, rtol=0, atol=1e-10)
