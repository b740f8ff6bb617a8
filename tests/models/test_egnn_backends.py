"""The EGNN peer's two backends compute the same thing: DGL's EGNNConv and the plain-tensor twin."""

import pytest
import torch

from chemnoether.errors import ConfigError
from chemnoether.models import build_model
from chemnoether.nn.testing import float64_default

from .conftest import HCO, batch_of


def make(backend):
    torch.manual_seed(0)
    with float64_default():
        return build_model("egnn", elements=HCO, hidden=16, layers=2, backend=backend).double()


def test_torch_backend_equals_dgl_with_the_same_weights(ethanol):
    dgl_model, torch_model = make("dgl"), make("torch")
    torch_model.load_state_dict(dgl_model.state_dict())  # same parameter names: interchangeable
    batch = batch_of(ethanol)
    expected, got = dgl_model(batch), torch_model(batch)
    torch.testing.assert_close(got.pos, expected.pos, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(got.vel, expected.vel, rtol=1e-12, atol=1e-12)
    # and the gradients
    for model in (dgl_model, torch_model):
        model.zero_grad()
        model(batch).pos.square().sum().backward()
    for (name, a), (_, b) in zip(dgl_model.named_parameters(), torch_model.named_parameters()):
        torch.testing.assert_close(b.grad, a.grad, rtol=1e-10, atol=1e-12, msg=name)


def test_unknown_backend_is_refused():
    with pytest.raises(ConfigError, match="backend"):
        build_model("egnn", elements=HCO, backend="jax")
