"""``NoetherTailoredModel``: a dynamics model whose forward tailors, so ``fit`` can meta-train it.

``chemnoether.train.fit(NoetherTailoredModel(model, g, options), ...)`` trains with fit's normal
loss (or any ``loss_fn(prediction, batch)``) on the tailored prediction: that is the outer loss
of meta-tailoring, and its backward reaches the model's parameters, the learned inner learning
rate, and (with ``options.create_graph``) g's parameters through the inner step. The module holds
all of them, so fit's optimiser updates all of them. In eval mode (fit's validation, inside
``torch.no_grad()``) it still tailors, with ``options.eval_steps`` steps, and returns a prediction
without a graph.
"""

from __future__ import annotations

import math

import torch

from chemnoether import keys
from chemnoether.data.tensors import GraphTensors
from chemnoether.errors import ConfigError
from chemnoether.models.base import Prediction
from chemnoether.noether.losses import Embedding
from chemnoether.noether.tailoring import TailoringInfo, TailoringOptions, tailor


class NoetherTailoredModel(torch.nn.Module):
    """``forward(batch) -> Prediction``: ``tailor(model, batch, g, ...)`` with ``options``.

    Args:
        model: a model with ``conditioning_sizes`` and ``forward(batch, conditioning=...)``
            (``EquivariantDynamics``).
        g: a ``NoetherEmbedding`` (learned with the model) or an oracle.
        options: ``TailoringOptions``; default one SGD step.
        learn_lr: learn the inner learning rate (as ``exp`` of a parameter initialised at ``options.lr``).

    ``last_info`` holds the ``TailoringInfo`` of the latest forward.
    """

    def __init__(self, model: torch.nn.Module, g: Embedding, options: TailoringOptions | None = None, *, learn_lr: bool = False):
        super().__init__()
        if not hasattr(model, "conditioning_sizes"):
            raise ConfigError(f"{type(model).__name__} has no conditioning_sizes: it cannot be tailored")
        if options is not None and not isinstance(options, TailoringOptions):
            raise ConfigError(f"options must be a TailoringOptions, got {type(options).__name__}")
        self.model = model
        self.g = g
        self.options = options or TailoringOptions()
        # log-parametrised: the learned rate stays positive whatever the outer optimiser does
        self.log_lr = torch.nn.Parameter(torch.tensor(math.log(self.options.lr))) if learn_lr else None
        self.last_info: TailoringInfo | None = None

    @property
    def inner_lr(self) -> float:
        """The inner learning rate now (learned or fixed)."""
        return float(self.log_lr.exp()) if self.log_lr is not None else self.options.lr

    def forward(self, batch: GraphTensors) -> Prediction:
        o = self.options
        steps = o.steps if self.training or o.eval_steps is None else o.eval_steps
        learned = self.log_lr.exp().to(batch.atom_graph.device, batch.atom[keys.POS].dtype) if self.log_lr is not None else None
        prediction, self.last_info = tailor(
            self.model, batch, self.g,
            steps=steps, lr=o.lr, optimizer=o.optimizer, horizon=o.horizon, mode=o.mode, inner=o.inner,
            keep_if_improved=o.keep_if_improved, learned_lr=learned, create_graph=o.create_graph,
        )
        return prediction
