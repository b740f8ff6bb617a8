"""Training losses: the next-state loss, and the stabilising terms of learned MD (all off by default).

``next_state_loss(weights)``: weighted mean squared errors of the next positions and velocities.
``training_loss(model, config)`` adds, where ``config`` (``TrainConfig``) asks for them:

* energy and force errors of a learned energy (``loss_weights.energy`` / ``.forces``; the model
  needs ``energy_head=True``, the windows energies and forces);
* a multi-step rollout loss (``rollout_steps`` k > 1): the model's own k autoregressive steps
  against the true states, averaged over the steps, in training only (validation stays the
  one-step loss, so val losses of runs with and without it compare).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from chemnoether import keys
from chemnoether.core.tensors import GraphTensors
from chemnoether.errors import ConfigError, GraphFormatError
from chemnoether.train.config import LossWeights, TrainConfig

LossFn = Callable[[object, GraphTensors], torch.Tensor]


def next_state_loss(weights: LossWeights) -> LossFn:
    """``loss(prediction, batch)``: ``pos * MSE(prediction.pos, next_pos) + vel * MSE(prediction.vel, next_vel)``.

    Means over atoms and Cartesian components (Å² and (Å/fs)²); pass a ``loss_fn`` of the same
    form to ``fit`` to train on anything else.
    """

    def loss(prediction, batch: GraphTensors) -> torch.Tensor:
        return _state_error(prediction, batch.atom[keys.NEXT_POS], batch.atom[keys.NEXT_VEL], weights)

    return loss


def _state_error(prediction, pos: torch.Tensor, vel: torch.Tensor, weights: LossWeights) -> torch.Tensor:
    total = prediction.pos.new_zeros(())
    if weights.pos:
        total = total + weights.pos * torch.mean((prediction.pos - pos) ** 2)
    if weights.vel:
        total = total + weights.vel * torch.mean((prediction.vel - vel) ** 2)
    return total


def energy_force_loss(energy_model, batch: GraphTensors, weights: LossWeights) -> torch.Tensor:
    """``energy * MSE(E / atoms) + forces * MSE(F)``: (eV/atom)² over graphs, (eV/Å)² over atoms and components.

    ``energy_model.energy_and_forces(batch, create_graph)`` gives the learned values (an
    ``EquivariantDynamics`` with ``energy_head=True``); forces stay differentiable when autograd is on.
    """
    missing = ([f"system {keys.ENERGY!r}"] if weights.energy and keys.ENERGY not in batch.system else []) + (
        [f"atom {keys.FORCES!r}"] if weights.forces and keys.FORCES not in batch.atom else []
    )
    if missing:
        raise GraphFormatError(
            f"train.loss_weights asks for energy / force errors but the windows lack {missing}: use a trajectory "
            "with energies and forces (`chemnoether md generate` writes both) or set those weights to 0"
        )
    energy, forces = energy_model.energy_and_forces(batch, create_graph=torch.is_grad_enabled())
    total = energy.new_zeros(())
    if weights.energy:
        atoms = batch.num_atoms.to(energy.dtype)
        reference = batch.system[keys.ENERGY].reshape(-1).to(energy.dtype)
        total = total + weights.energy * torch.mean(((energy - reference) / atoms) ** 2)
    if weights.forces:
        total = total + weights.forces * torch.mean((forces - batch.atom[keys.FORCES].to(forces.dtype)) ** 2)
    return total


def rollout_loss(model, prediction, batch: GraphTensors, steps: int, weights: LossWeights) -> torch.Tensor:
    """Mean over ``steps`` autoregressive steps of the next-state error against ``rollout_pos`` / ``rollout_vel``.

    Step 1 is ``prediction`` (the model's output on ``batch``); each later step feeds the previous
    prediction back in (same edges, as the tailoring rollouts: fine for a few short steps).
    """
    from chemnoether.noether.tailoring import advance  # lazy: keeps e3nn out of `import chemnoether.train`

    atom = batch.atom
    if keys.ROLLOUT_POS not in atom or atom[keys.ROLLOUT_POS].shape[1] < steps:
        have = atom[keys.ROLLOUT_POS].shape[1] if keys.ROLLOUT_POS in atom else 1
        raise GraphFormatError(
            f"train.rollout_steps={steps} needs windows with rollout targets of {steps} steps, these have {have}: "
            "train on chemnoether.data.windows.augmented(windows, horizon=...) (chemnoether train does this)"
        )
    total = _state_error(prediction, atom[keys.ROLLOUT_POS][:, 0], atom[keys.ROLLOUT_VEL][:, 0], weights)
    state = batch
    for step in range(1, steps):
        state = advance(state, prediction)
        prediction = model(state)
        total = total + _state_error(prediction, atom[keys.ROLLOUT_POS][:, step], atom[keys.ROLLOUT_VEL][:, step], weights)
    return total / steps


def training_loss(model: torch.nn.Module, config: TrainConfig) -> LossFn:
    """The loss ``chemnoether train`` fits ``model`` with: ``next_state_loss`` plus what ``config`` adds."""
    weights, steps = config.loss_weights, config.rollout_steps
    energy_model = None
    if weights.energy or weights.forces:
        energy_model = _energy_model(model)
    if energy_model is None and steps == 1:
        return next_state_loss(weights)

    def loss(prediction, batch: GraphTensors) -> torch.Tensor:
        if steps > 1 and model.training:
            total = rollout_loss(model, prediction, batch, steps, weights)
        else:
            total = _state_error(prediction, batch.atom[keys.NEXT_POS], batch.atom[keys.NEXT_VEL], weights)
        if energy_model is not None:
            total = total + energy_force_loss(energy_model, batch, weights)
        return total

    return loss


def _energy_model(model: torch.nn.Module):
    """The module with ``energy_and_forces``: ``model``, or the model a tailored wrapper holds."""
    for candidate in (model, getattr(model, "model", None)):
        if candidate is not None and getattr(candidate, "energy_head", None) is not None:
            return candidate
    raise ConfigError(
        f"train.loss_weights.energy / .forces need a model with an energy head; {type(model).__name__} has none: "
        "set model.energy_head: true (equivariant model)"
    )
