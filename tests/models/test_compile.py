"""``torch.compile`` takes the equivariant model whole and keeps its results (issue 8, point 2).

e3nn's ``Irrep`` cannot be guarded by TorchDynamo (its ``__len__`` raises), so the forward pass
must read plain ints, never irreps; these tests fail if an irreps access creeps back in.
"""

import pytest
import torch

from chemnoether.models import EquivariantDynamics
from chemnoether.nn.testing import float64_default

from .conftest import HCO, batch_of


def _loss_and_gradient(model, call, batch):
    model.zero_grad()
    prediction = call(batch)
    (prediction.pos.pow(2).sum() + prediction.vel.pow(2).sum()).backward()
    return prediction, torch.cat([p.grad.reshape(-1) for p in model.parameters() if p.grad is not None])


@pytest.mark.slow
def test_compiled_model_matches_eager_on_cpu(ethanol):
    torch.manual_seed(0)
    with float64_default():  # the fixture's windows are float64
        model = EquivariantDynamics(HCO, channels=8, layers=1).double()
    batch = batch_of(ethanol, "radius")
    eager, eager_grad = _loss_and_gradient(model, model, batch)
    compiled, compiled_grad = _loss_and_gradient(model, torch.compile(model), batch)
    torch.testing.assert_close(compiled.pos, eager.pos, rtol=0, atol=1e-9)
    torch.testing.assert_close(compiled.vel, eager.vel, rtol=0, atol=1e-9)
    assert (compiled_grad - eager_grad).norm() <= 1e-8 * eager_grad.norm()


@pytest.mark.gpu
def test_compiled_model_matches_eager_on_cuda(ethanol):
    torch.manual_seed(0)
    with float64_default():
        model = EquivariantDynamics(HCO, channels=16, layers=2).double().to("cuda")
    batch = batch_of(ethanol, "radius").to("cuda")
    eager, eager_grad = _loss_and_gradient(model, model, batch)
    compiled, compiled_grad = _loss_and_gradient(model, torch.compile(model), batch)
    torch.testing.assert_close(compiled.pos, eager.pos, rtol=0, atol=1e-9)
    assert (compiled_grad - eager_grad).norm() <= 1e-8 * eager_grad.norm()
