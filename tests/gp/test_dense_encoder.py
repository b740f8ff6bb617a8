"""The encoder's no-autograd snapshot (dense linear layers, the last block's scalars only) against ``node_scalars``."""

import pytest
import torch

import chemnoether  # noqa: F401 - before dgl
from chemnoether.simulation import generate_md
from chemnoether.gp._dense_encoder import DenseScalars
from chemnoether.gp.train import (
    ENCODER_ELEMENTS,
    GPNodeModel,
    HeadConfig,
    _default_dtype,
    prepare_molecule,
)
from chemnoether.models import EquivariantDynamics



@pytest.fixture(scope="module")
def ethanol():
    return prepare_molecule(generate_md("ethanol", 80, seed=0, progress=False, equilibration_steps=100), 4, "ethanol")


@pytest.mark.parametrize("options", [{"channels": 4, "layers": 1}, {"channels": 6, "layers": 2, "l_max": 2}, {"channels": 4, "layers": 1, "parity": "all"}],
                         ids=["one-block", "two-blocks-l2", "both-parities"])
def test_dense_scalars_equal_node_scalars(ethanol, options):
    torch.manual_seed(0)
    with _default_dtype(torch.float64):
        model = EquivariantDynamics(ENCODER_ELEMENTS, **options)
    batch = ethanol.encoder_input([3, 40])
    with torch.no_grad():
        expected = model.node_scalars(batch)
        dense = DenseScalars(model)
        assert dense.usable(batch)
        torch.testing.assert_close(dense(batch), expected, rtol=0, atol=1e-12)
    assert not dense.usable(batch)  # with autograd: the model itself


def test_a_snapshot_follows_the_parameters(ethanol):
    torch.manual_seed(0)
    with _default_dtype(torch.float64):
        model = EquivariantDynamics(ENCODER_ELEMENTS, channels=4, layers=1)
    batch = ethanol.encoder_input([10])
    first = DenseScalars.of(model, None)
    assert DenseScalars.of(model, first) is first
    with torch.no_grad():
        model.blocks[0].linear_in.weight.mul_(1.5)  # what an optimiser step or load_state_dict does: in place
        second = DenseScalars.of(model, first)
        assert second is not first
        torch.testing.assert_close(second(batch), model.node_scalars(batch), rtol=0, atol=1e-12)


def test_the_model_uses_the_snapshot_only_without_autograd(ethanol):
    config = HeadConfig(window=12, horizon=2, num_components=2, hidden=16, features="both", window_lags=4, encoder={"channels": 4, "layers": 1})
    model = GPNodeModel(config, ethanol.attrs.shape[1])
    with_grad, _ = model([(ethanol, 2)])
    assert model._dense_scalars is None
    with torch.inference_mode():
        without, _ = model([(ethanol, 2)])
    assert model._dense_scalars is not None
    torch.testing.assert_close(without.mean, with_grad.mean.detach(), rtol=0, atol=1e-12)
    torch.testing.assert_close(without.var, with_grad.var.detach(), rtol=1e-10, atol=0)
