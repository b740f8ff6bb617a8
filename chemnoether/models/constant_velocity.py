"""The trivial peer: constant-velocity extrapolation."""

from __future__ import annotations

import torch

from chemnoether import keys
from chemnoether.core.tensors import GraphTensors
from chemnoether.models.base import DynamicsModel, Prediction, time_step_per_atom
from chemnoether.nn import checked_elements


class ConstantVelocity(DynamicsModel):
    """``next_pos = pos + vel * dt``, ``next_vel = vel``: the floor every learned model must beat.

    Nothing to learn (``trainable = False``). So that a generic training or evaluation loop needs
    no special case, the model holds one zero-size parameter, ``placeholder``: ``Adam(model.parameters())``
    accepts it, ``next(model.parameters())`` tells the device and dtype, and the outputs depend on
    it (through its empty sum, exactly 0), so ``loss.backward()`` runs and ``optimizer.step()``
    changes nothing. Loops that check ``model.trainable`` may skip all that.
    """

    kind = "constant_velocity"
    trainable = False

    def __init__(self, elements=None):
        # elements: accepted (and recorded) so that every kind takes the same first argument;
        # no element is unknown to a model that ignores them
        super().__init__({"elements": None if elements is None else list(checked_elements(elements))})
        self.placeholder = torch.nn.Parameter(torch.zeros(0))

    def forward(self, batch: GraphTensors) -> Prediction:
        self.check_inputs(batch)
        pos, vel = batch.atom[keys.POS], batch.atom[keys.VEL]
        zero = self.placeholder.sum().to(pos.dtype)
        return Prediction(pos=pos + vel * time_step_per_atom(batch, pos) + zero, vel=vel + zero)
