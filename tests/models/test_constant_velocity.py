"""ConstantVelocity: exact extrapolation, and a generic training loop runs on it unchanged."""

import torch

from chemnoether import keys
from chemnoether.models import ConstantVelocity

from .conftest import batch_of


def test_exact_extrapolation(ethanol):
    batch = batch_of(ethanol)
    prediction = ConstantVelocity()(batch)
    dt = batch.system[keys.DT][batch.atom_graph].unsqueeze(1)
    assert torch.equal(prediction.pos, batch.atom[keys.POS] + batch.atom[keys.VEL] * dt)
    assert torch.equal(prediction.vel, batch.atom[keys.VEL])


def test_an_optimiser_step_is_a_no_op(ethanol):
    model = ConstantVelocity([8, 1, 6])
    assert not model.trainable and model.config == {"elements": [1, 6, 8]}
    assert sum(p.numel() for p in model.parameters()) == 0
    optimizer = torch.optim.Adam(model.parameters(), lr=1.0)
    batch = batch_of(ethanol)
    loss = (model(batch).pos - batch.atom[keys.NEXT_POS]).pow(2).mean()
    loss.backward()
    optimizer.step()
    assert torch.equal(model(batch).pos, ConstantVelocity()(batch).pos)
