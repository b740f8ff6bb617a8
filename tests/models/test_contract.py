"""The properties every dynamics model must have, checked for each kind with the shared helpers.

Float64, real ethanol windows (radius graph and the MD17-protocol graph), small configurations
so the whole file stays fast.
"""

import json

import pytest
import torch

from chemnoether import keys
from chemnoether.data import GraphTensors
import chemnoether.noether  # noqa: F401 - registers noether_tailored
from chemnoether.errors import ConfigError, GraphFormatError
from chemnoether.models import build_model, model_kinds
from chemnoether.nn.testing import (
    assert_batch_invariant,
    assert_equivariant_dynamics,
    assert_gradients_flow,
    assert_momentum_conserved,
    float64_default,
    momentum_errors,
)

from .conftest import HCO, batch_of, windows

MODEL_KINDS = model_kinds()

SMALL = {
    "equivariant": {"channels": 8, "layers": 2},
    "egnn": {"hidden": 16, "layers": 2},
    "constant_velocity": {},
}


def make(kind, **options):
    torch.manual_seed(0)
    with float64_default():
        if kind == "noether_tailored":
            # the meta-tailored wrapper: a learned g, one inner step, second order
            inner = {"kind": "equivariant", "elements": HCO, **SMALL["equivariant"], **options}
            g = {"kind": "learned", "elements": HCO, "k": 4, "hidden": 8, "layers": 1}
            return build_model(kind, model=inner, g=g, options={"lr": 0.05, "create_graph": True}, learn_lr=True).double()
        return build_model(kind, elements=HCO, **{**SMALL[kind], **options}).double()


@pytest.mark.parametrize("kind", MODEL_KINDS)
@pytest.mark.parametrize("graph", ["radius", "md17"])
def test_equivariant_on_real_windows(kind, graph, ethanol):
    torch.manual_seed(1)
    errors = assert_equivariant_dynamics(make(kind), batch_of(ethanol, graph), atol=1e-10)
    assert set(errors) == {f"{t}.{v}" for t in ("rotation_parity", "translation", "permutation") for v in ("pos", "vel")}


@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_momentum_conserved_exactly(kind, ethanol, other_molecules):
    graphs = [windows(t, starts=(0, 20)).batch([1]) for t in (ethanol, *other_molecules)]

    batch = GraphTensors.from_graph(graphs, dtype=torch.float64)
    assert_momentum_conserved(make(kind), batch, atol=1e-10)


@pytest.mark.parametrize("kind", ["equivariant", "egnn", "noether_tailored"])
def test_without_projection_momentum_is_not_conserved(kind, ethanol):
    errors = momentum_errors(make(kind, conserve_momentum=False), batch_of(ethanol))
    assert errors["momentum"] > 1e-8


@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_a_molecule_alone_and_in_a_batch_of_others(kind, ethanol, other_molecules):
    methanol, acetone = (windows(t, starts=(0, 20)) for t in other_molecules)
    graphs = [methanol.batch([1]), windows(ethanol).batch([2]), acetone.batch([0])]
    assert_batch_invariant(make(kind), graphs, atol=1e-10)


# constant velocity has nothing to learn: "gradients flow" would check an empty set of parameters
TRAINABLE_KINDS = [kind for kind in MODEL_KINDS if kind != "constant_velocity"]


@pytest.mark.parametrize("kind", TRAINABLE_KINDS)
def test_gradients_flow(kind, ethanol):
    model = make(kind)
    assert sum(p.numel() for p in model.parameters()) > 0  # something to check
    assert_gradients_flow(model, batch_of(ethanol))


def test_constant_velocity_trains_as_a_no_op(ethanol):
    # what a generic loop does to it: backward and an optimiser step run, and nothing changes
    model, batch = make("constant_velocity"), batch_of(ethanol)
    assert not model.trainable
    before = model(batch)
    loss = (before.pos - batch.atom[keys.NEXT_POS]).pow(2).mean() + (before.vel - batch.atom[keys.NEXT_VEL]).pow(2).mean()
    loss.backward()
    torch.optim.Adam(model.parameters(), lr=1.0).step()
    after = model(batch)
    assert torch.equal(after.pos, before.pos) and torch.equal(after.vel, before.vel)
    assert loss > 0  # the check is not vacuous: there is an error that a learned model could reduce


@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_rebuilt_from_config(kind, ethanol):
    model = make(kind)
    config = json.loads(json.dumps(model.config))
    twin = build_model(model.kind, **config).double()
    assert twin.config == model.config
    twin.load_state_dict(model.state_dict())
    batch = batch_of(ethanol)
    torch.testing.assert_close(twin(batch).pos, model(batch).pos, rtol=0, atol=0)


@pytest.mark.parametrize("kind", ["equivariant", "egnn", "noether_tailored"])
def test_unknown_element_is_named(kind, glycine):
    with pytest.raises(ConfigError, match=r"7 \(N\).*\[1 \(H\), 6 \(C\), 8 \(O\)\]"):
        make(kind)(batch_of(glycine, starts=(0,)))


@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_missing_input_field(kind, ethanol):
    batch = batch_of(ethanol, starts=(0,))
    del batch.atom[keys.VEL]
    with pytest.raises(GraphFormatError, match="vel"):
        make(kind)(batch)


@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_float32_runs(kind, ethanol):
    ws = windows(ethanol)
    batch = GraphTensors.from_graph(ws.batch([0, 1]), dtype=torch.float32)
    prediction = make(kind).float()(batch)
    assert prediction.pos.dtype == torch.float32 and prediction.pos.shape == (18, 3)
    assert torch.isfinite(prediction.vel).all()
