"""The default training loss: weighted mean squared errors of the next positions and velocities."""

from __future__ import annotations

from collections.abc import Callable

import torch

from chemnoether import keys
from chemnoether.core.tensors import GraphTensors
from chemnoether.train.config import LossWeights

LossFn = Callable[[object, GraphTensors], torch.Tensor]


def next_state_loss(weights: LossWeights) -> LossFn:
    """``loss(prediction, batch)``: ``pos * MSE(prediction.pos, next_pos) + vel * MSE(prediction.vel, next_vel)``.

    Means over atoms and Cartesian components (Å² and (Å/fs)²); pass a ``loss_fn`` of the same
    form to ``fit`` to train on anything else.
    """

    def loss(prediction, batch: GraphTensors) -> torch.Tensor:
        total = prediction.pos.new_zeros(())
        if weights.pos:
            total = total + weights.pos * torch.mean((prediction.pos - batch.atom[keys.NEXT_POS]) ** 2)
        if weights.vel:
            total = total + weights.vel * torch.mean((prediction.vel - batch.atom[keys.NEXT_VEL]) ** 2)
        return total

    return loss
