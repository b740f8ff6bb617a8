"""``NoetherTailoredModel``: a dynamics model whose forward tailors, so ``fit`` can meta-train it.

``chemnoether.train.fit(NoetherTailoredModel(model, g, options), ...)`` trains with fit's normal
loss (or any ``loss_fn(prediction, batch)``) on the tailored prediction: that is the outer loss
of meta-tailoring, and its backward reaches the model's parameters, the learned inner learning
rate, and (with ``options.create_graph``) g's parameters through the inner step. The module holds
all of them, so fit's optimiser updates all of them. In eval mode (fit's validation, inside
``torch.no_grad()``) it still tailors, with ``options.eval_steps`` steps, and returns a prediction
without a graph.

``kind`` and ``config`` describe the whole wrapper (the model's own kind and config, g, the
options), so ``build_model("noether_tailored", **config)`` rebuilds it and checkpoints of
meta-trained runs load with ``load_model`` like any other.
"""

from __future__ import annotations

import dataclasses
import math

import torch

from chemnoether import keys
from chemnoether.core.registry import build_model
from chemnoether.core.tensors import GraphTensors
from chemnoether.errors import ConfigError
from chemnoether.models.base import Prediction
from chemnoether.noether.checks import check_noether_loss_invariant
from chemnoether.noether.g_specs import g_from_spec, g_spec
from chemnoether.noether.losses import Embedding
from chemnoether.noether.tailoring import TailoringInfo, TailoringOptions, tailor

ANCHORS = ("start", "step")


class NoetherTailoredModel(torch.nn.Module):
    """``forward(batch) -> Prediction``: ``tailor(model, batch, g, ...)`` with ``options``.

    Args:
        model: a model with ``conditioning_sizes`` and ``forward(batch, conditioning=...)``
            (``EquivariantDynamics``).
        g: a ``NoetherEmbedding`` (learned with the model) or an oracle.
        options: ``TailoringOptions``; default one SGD step.
        learn_lr: learn the inner learning rate (as ``exp`` of a parameter initialised at ``options.lr``).
        anchor: what rollouts (``chemnoether.evaluate.rollout``) compare g with at each step:
            ``"start"``, g of the rollout's first state (passed as ``forward(..., reference=)``),
            or ``"step"``, g of the state the step starts from.

    ``last_info`` holds the ``TailoringInfo`` of the latest forward.
    """

    kind = "noether_tailored"

    def __init__(
        self,
        model: torch.nn.Module,
        g: Embedding,
        options: TailoringOptions | None = None,
        *,
        learn_lr: bool = False,
        anchor: str = "start",
    ):
        super().__init__()
        if not hasattr(model, "conditioning_sizes"):
            raise ConfigError(f"{type(model).__name__} has no conditioning_sizes: it cannot be tailored")
        if options is not None and not isinstance(options, TailoringOptions):
            raise ConfigError(f"options must be a TailoringOptions, got {type(options).__name__}")
        self.model = model
        self.g = g
        if anchor not in ANCHORS:
            raise ConfigError(f"anchor must be one of {ANCHORS}, got {anchor!r}")
        self.options = options or TailoringOptions()
        self.anchor = anchor
        # log-parametrised: the learned rate stays positive whatever the outer optimiser does
        self.log_lr = torch.nn.Parameter(torch.tensor(math.log(self.options.lr))) if learn_lr else None
        self.last_info: TailoringInfo | None = None
        self._g_checked = False

    @property
    def inner_lr(self) -> float:
        """The inner learning rate now (learned or fixed)."""
        return float(self.log_lr.detach().exp()) if self.log_lr is not None else self.options.lr

    @property
    def config(self) -> dict:
        """Keywords of ``build_model("noether_tailored", ...)`` that rebuild this wrapper."""
        inner = getattr(self.model, "config", None)
        if inner is None or getattr(self.model, "kind", None) is None:
            raise ConfigError(f"{type(self.model).__name__} has no kind / config: the tailored model cannot be recorded")
        return {
            "model": {"kind": self.model.kind, **inner},
            "g": g_spec(self.g),
            "options": dataclasses.asdict(self.options),
            "learn_lr": self.log_lr is not None,
            "anchor": self.anchor,
        }

    def forward(self, batch: GraphTensors, reference: torch.Tensor | None = None) -> Prediction:
        """The tailored prediction; ``reference``: (B, k) g values to conserve instead of ``g(batch)``."""
        if not self._g_checked:  # once: a g whose loss depends on orientation would tailor nonsense
            if hasattr(self.model, "check_inputs"):
                self.model.check_inputs(batch)  # a malformed batch is named as such, before g sees it
            check_noether_loss_invariant(self.g, batch)
            self._g_checked = True
        o = self.options
        steps = o.steps if self.training or o.eval_steps is None else o.eval_steps
        learned = self.log_lr.exp().to(batch.atom_graph.device, batch.atom[keys.POS].dtype) if self.log_lr is not None else None
        prediction, self.last_info = tailor(
            self.model, batch, self.g,
            steps=steps, lr=o.lr, optimizer=o.optimizer, horizon=o.horizon, mode=o.mode, inner=o.inner,
            keep_if_improved=o.keep_if_improved, learned_lr=learned, create_graph=o.create_graph, reference=reference,
            blocks=o.blocks,
        )
        return prediction


def build_tailored_model(
    model: dict, g: dict, options: dict | None = None, learn_lr: bool = False, anchor: str = "start"
) -> NoetherTailoredModel:
    """``NoetherTailoredModel`` from plain descriptions (``NoetherTailoredModel.config``)."""
    if not isinstance(model, dict) or not isinstance(model.get("kind"), str):
        raise ConfigError(f"model must be a mapping with the inner model's kind and options, got {model!r}")
    inner = dict(model)
    kind = inner.pop("kind")
    try:
        tailoring = TailoringOptions(**(options or {}))
    except TypeError as err:
        raise ConfigError(f"tailoring options: {err}") from err
    inner_model = build_model(kind, **inner)
    return NoetherTailoredModel(inner_model, g_from_spec(g, inner_model), tailoring, learn_lr=learn_lr, anchor=anchor)
