"""The ``tailoring:`` section of a training recipe, and the tailored model it builds.

``chemnoether train`` wraps the recipe's model in a ``NoetherTailoredModel`` when the recipe has
this section, and so meta-trains it (Alet et al. 2021, Algorithm 1); the checkpoint records the
whole wrapper (``kind="noether_tailored"``), so ``load_model`` and ``chemnoether evaluate`` rebuild
it. ``g`` names the conserved quantity: a learned ``NoetherEmbedding``, or an oracle (linear or
angular momentum; total energy under a differentiable MMFF94, for all-atom molecules), a
kinetic-anchored learned energy (``anchored``: ``K + V_phi``, no labels), or the kinetic plus the
dynamics model's own learned potential energy (``learned_energy``: needs ``model.energy_head``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from chemnoether.core.typecheck import coerce_fields
from chemnoether.errors import ConfigError
from chemnoether.noether.g_specs import G_KINDS, MMFFTotalEnergy, g_from_spec, g_spec  # noqa: F401 - re-exported
from chemnoether.noether.tailored_model import NoetherTailoredModel
from chemnoether.noether.tailoring import TailoringOptions


@dataclass
class TailoringSection:
    """The ``tailoring:`` section (every key optional; checked on construction).

    ``g``: ``"learned"`` (a ``NoetherEmbedding`` of width ``k``, ``hidden``, ``layers``,
    ``cutoff`` Å, trained with the model), ``"anchored"`` (kinetic energy plus a learned
    potential of width ``hidden``, ``layers``, ``cutoff``: cannot collapse, see
    ``noether.anchored``), ``"learned_energy"`` (kinetic plus the model's own learned potential;
    needs ``model.energy_head: true``) or an oracle (``"linear_momentum"``,
    ``"angular_momentum"``, ``"energy"``: MMFF94 plus kinetic energy of the trajectory's molecule).
    ``steps`` inner steps in training, ``eval_steps`` at prediction time (default ``steps``);
    ``lr`` the inner learning rate (the start value when ``learn_lr``); ``second_order``:
    meta-gradients through the inner step (needed for g to learn); ``anchor``: in rollouts, the
    Noether loss compares each step with g at the rollout's ``"start"`` or at the current
    ``"step"``; ``blocks``: tailor only the last ``blocks`` interaction blocks (cheaper);
    ``pretrain_steps``: steps of ``pretrain.pretrain_embedding`` for a learned g before
    meta-training (conserved along true steps, changed by ``pretrain_*_noise`` knocks);
    ``train_g: false`` keeps a learned g fixed during meta-training (only the model learns to be
    tailored by it: a pre-trained g's second-order gradients can otherwise dominate the clipped
    update). The rest as ``TailoringOptions``.
    """

    g: Literal["learned", "linear_momentum", "angular_momentum", "energy", "anchored", "learned_energy"] = "learned"
    k: int = 8
    hidden: int = 32
    layers: int = 2
    cutoff: float = 5.0
    steps: int = 1
    eval_steps: int | None = None
    lr: float = 0.01
    learn_lr: bool = True
    optimizer: Literal["sgd", "adam"] = "sgd"
    horizon: int = 1
    mode: Literal["initial", "consecutive"] = "initial"
    inner: Literal["autoregressive", "teacher_forced"] = "autoregressive"
    keep_if_improved: bool = False
    second_order: bool = True
    anchor: Literal["start", "step"] = "start"
    blocks: int | None = None
    pretrain_steps: int = 0
    train_g: bool = True
    pretrain_position_noise: float = 0.02
    pretrain_velocity_noise: float = 0.2

    def __post_init__(self):
        coerce_fields(self, "tailoring")
        for name in ("k", "hidden", "layers"):
            if getattr(self, name) < 1:
                raise ConfigError(f"tailoring.{name} must be >= 1, got {getattr(self, name)!r}")
        for name in ("pretrain_steps", "pretrain_position_noise", "pretrain_velocity_noise"):
            if getattr(self, name) < 0:
                raise ConfigError(f"tailoring.{name} must be >= 0, got {getattr(self, name)!r}")
        if self.pretrain_steps and self.g not in ("learned", "anchored"):
            raise ConfigError(f"tailoring.pretrain_steps is for a learned or anchored g; g is {self.g!r}")
        if not self.cutoff > 0:
            raise ConfigError(f"tailoring.cutoff must be > 0 Å, got {self.cutoff!r}")
        try:
            self.options()
        except ConfigError as err:
            raise ConfigError(f"{err} (recipe section tailoring:)") from err

    def options(self) -> TailoringOptions:
        return TailoringOptions(
            steps=self.steps, lr=self.lr, optimizer=self.optimizer, horizon=self.horizon, mode=self.mode,
            inner=self.inner, keep_if_improved=self.keep_if_improved, create_graph=self.second_order,
            eval_steps=self.eval_steps, blocks=self.blocks,
        )

    def g_spec(self, elements, smiles: str | None) -> dict:
        """The ``g`` description ``g_from_spec`` builds (what a checkpoint records)."""
        if self.g == "learned":
            return {"kind": "learned", "elements": [int(z) for z in elements], "k": self.k, "hidden": self.hidden,
                    "layers": self.layers, "cutoff": float(self.cutoff)}
        if self.g == "anchored":
            return {"kind": "anchored", "elements": [int(z) for z in elements], "hidden": self.hidden,
                    "layers": self.layers, "cutoff": float(self.cutoff)}
        if self.g == "energy":
            if not smiles:
                raise ConfigError(
                    "tailoring.g='energy' needs the molecule's SMILES (the trajectory's metadata['smiles']) to set up MMFF94"
                )
            return {"kind": "energy", "smiles": smiles}
        return {"kind": self.g}


def tailored(model: torch.nn.Module, section: TailoringSection, smiles: str | None = None) -> NoetherTailoredModel:
    """``model`` wrapped for meta-tailoring as ``section`` says (``smiles``: the molecule, for ``g: energy``)."""
    elements = getattr(model, "config", {}).get("elements")
    if elements is None:
        raise ConfigError(f"{type(model).__name__} records no elements in its config: it cannot be tailored from a recipe")
    g = g_from_spec(section.g_spec(elements, smiles), model)
    if not section.train_g:
        g.requires_grad_(False)
    return NoetherTailoredModel(model, g, section.options(), learn_lr=section.learn_lr, anchor=section.anchor)
