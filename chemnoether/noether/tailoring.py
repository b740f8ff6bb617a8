"""Tailoring: per-graph conditional-normalisation parameters fitted to a Noether loss at prediction time.

What happens in ``tailor`` (docs/design.md section 6; Alet et al. 2021, CNGrad):

1. every graph gets its own ``BlockCondition`` per interaction block, at identity (scale 1, shift 0);
2. the model rolls out ``horizon`` steps from the batch with them (``rollout``: each next state is
   the batch with POS/VEL replaced; its edges stay those of the batch, fine for short horizons;
   or teacher-forced, each step from the true state, with ``inner="teacher_forced"``);
3. the Noether loss of that rollout is summed over graphs. A graph's parameters act on that graph
   only, so one backward of the sum gives every graph exactly its own gradient;
4. SGD (or a functional Adam) updates the parameters, ``steps`` times;
5. the prediction is the model's step with the tailored parameters.

Graphs whose Noether loss (or gradient) is not finite keep the untailored parameters, and with
``keep_if_improved`` so does any graph whose Noether loss did not decrease; ``TailoringInfo`` says
which. With ``create_graph=True`` the inner gradient is itself differentiable, so an outer loss on
the prediction backpropagates through the inner step into the model and into g (second order,
MAML-style). With ``create_graph=False`` (first order) the inner gradient is a constant: the model
still learns through the final prediction and a ``learned_lr`` still gets a gradient, but g gets
none, since it only enters through that gradient.
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import torch

from chemnoether import keys
from chemnoether.core.tensors import GraphTensors
from chemnoether.errors import ConfigError
from chemnoether.models.base import Prediction
from chemnoether.nn import BlockCondition
from chemnoether.noether.losses import Embedding, check_mode, noether_loss_per_graph

OPTIMIZERS = ("sgd", "adam")
INNER_ROLLOUTS = ("autoregressive", "teacher_forced")
ADAM_BETAS = (0.9, 0.999)
ADAM_EPS = 1e-8


@dataclass(frozen=True)
class TailoringOptions:
    """Options of ``tailor`` (validated on construction; ``ConfigError`` otherwise).

    Attributes:
        steps: inner updates (>= 1); 1 in meta-training, more at test time.
        lr: inner learning rate (> 0); ignored where a ``learned_lr`` is given.
        optimizer: ``"sgd"`` or ``"adam"`` (functional Adam, per parameter entry, so per graph).
        horizon: rollout steps the Noether loss sees (>= 1).
        mode: ``"initial"`` or ``"consecutive"`` Noether loss (``losses``).
        inner: ``"autoregressive"`` (the model's own rollout, as the paper at test time) or
            ``"teacher_forced"`` (each step from the true state, as the paper in training; needs
            ``rollout_pos`` / ``rollout_vel`` targets of ``horizon - 1`` steps or more for
            ``horizon`` > 1, from ``RolloutWindows``). Identical for ``horizon=1``.
        keep_if_improved: keep the tailored parameters of a graph only if its Noether loss
            decreased (costs one more rollout).
        create_graph: second-order meta-gradients through the inner step (see module docstring).
        eval_steps: inner steps of ``NoetherTailoredModel`` in eval mode (``None``: ``steps``).
        blocks: tailor the conditioning of only the last ``blocks`` interaction blocks (``None``:
            all). The inner backward pass then stops at the first tailored block, so fewer
            blocks cost less; the earlier blocks run unconditioned.
    """

    steps: int = 1
    lr: float = 1e-2
    optimizer: str = "sgd"
    horizon: int = 1
    mode: str = "initial"
    inner: str = "autoregressive"
    keep_if_improved: bool = False
    create_graph: bool = False
    eval_steps: int | None = None
    blocks: int | None = None

    def __post_init__(self):
        _check_count(self.steps, "steps")
        if self.blocks is not None:
            _check_count(self.blocks, "blocks")
        _check_count(self.horizon, "horizon")
        if self.eval_steps is not None:
            _check_count(self.eval_steps, "eval_steps")
        if isinstance(self.lr, bool) or not isinstance(self.lr, (int, float)) or not (0 < self.lr < math.inf):
            raise ConfigError(f"tailoring lr must be a positive finite number, got {self.lr!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"tailoring optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        check_mode(self.mode)
        if self.inner not in INNER_ROLLOUTS:
            raise ConfigError(f"tailoring inner must be one of {INNER_ROLLOUTS}, got {self.inner!r}")
        for name in ("keep_if_improved", "create_graph"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"tailoring {name} must be True or False, got {getattr(self, name)!r}")


@dataclass
class TailoringInfo:
    """What ``tailor`` did, per graph (all tensors detached).

    Attributes:
        conditioning: the parameters the prediction used, one ``BlockCondition`` per block.
        loss_before: (B,) Noether loss at identity parameters.
        loss_after: (B,) Noether loss with the tailored parameters (only with ``keep_if_improved``).
        failed: (B,) bool, the Noether loss or its gradient was not finite: identity kept.
        kept: (B,) bool, the graph's prediction used its tailored parameters.
    """

    conditioning: list[BlockCondition]
    loss_before: torch.Tensor
    loss_after: torch.Tensor | None
    failed: torch.Tensor
    kept: torch.Tensor


def _check_count(value, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"tailoring {name} must be an integer >= 1, got {value!r}")


def identity_parameters(model: torch.nn.Module, batch: GraphTensors, blocks: int | None = None) -> list[torch.Tensor]:
    """Flat list ``[scale_0, shift_0, scale_1, ...]`` of identity per-graph parameters, requiring grad.

    ``model.conditioning_sizes`` gives ``(num_scales, num_shifts)`` per block; the tensors have the
    dtype and device of the batch's positions. ``blocks``: only the last ``blocks`` blocks.
    """
    sizes = getattr(model, "conditioning_sizes", None)
    if sizes is None:
        raise ConfigError(f"{type(model).__name__} has no conditioning_sizes: it cannot be tailored")
    if blocks is not None:
        if blocks > len(sizes):
            raise ConfigError(f"tailoring blocks={blocks} but {type(model).__name__} has {len(sizes)} blocks")
        sizes = sizes[len(sizes) - blocks :]
    like, b = batch.atom[keys.POS], batch.num_graphs
    params = []
    for num_scales, num_shifts in sizes:
        params.append(like.new_ones((b, num_scales)).requires_grad_())
        params.append(like.new_zeros((b, num_shifts)).requires_grad_())
    return params


def as_conditioning(params: Sequence[torch.Tensor], num_blocks: int | None = None) -> list[BlockCondition | None]:
    """The flat ``[scale_0, shift_0, ...]`` list as one ``BlockCondition`` per block.

    ``num_blocks``: the model's block count, when ``params`` cover only its last blocks (the
    earlier ones get ``None``, i.e. no conditioning).
    """
    conditions = [BlockCondition(scale=params[i], shift=params[i + 1]) for i in range(0, len(params), 2)]
    return [None] * ((num_blocks or len(conditions)) - len(conditions)) + conditions


def advance(state: GraphTensors, prediction: Prediction) -> GraphTensors:
    """The next state: ``state`` with POS and VEL replaced by the prediction (same graph, same edges)."""
    return replace(state, atom={**state.atom, keys.POS: prediction.pos, keys.VEL: prediction.vel})


def rollout(
    model: Callable,
    batch: GraphTensors,
    conditioning: Sequence[BlockCondition] | None,
    horizon: int,
    teacher_forced: bool = False,
    cache: dict | None = None,
) -> list[GraphTensors]:
    """``[batch, x_1, ..., x_horizon]``: the model's rollout with ``conditioning``.

    Autoregressive: ``x_t = model(x_{t-1})``. Teacher-forced: ``x_t = model(true x_{t-1})``, the
    true states being the batch and its ``rollout_pos`` / ``rollout_vel`` targets. ``cache``: the
    model's prefix cache for calls on ``batch`` itself (``EquivariantDynamics.forward``).
    """
    states = [batch]
    for t in range(1, horizon + 1):
        source = _true_state(batch, t - 1) if teacher_forced else states[-1]
        extra = {"cache": cache} if cache is not None and source is batch else {}
        states.append(advance(source, model(source, conditioning=conditioning, **extra)))
    return states


def _true_state(batch: GraphTensors, t: int) -> GraphTensors:
    if t == 0:
        return batch
    atom = batch.atom
    if keys.ROLLOUT_POS not in atom or keys.ROLLOUT_VEL not in atom or atom[keys.ROLLOUT_POS].shape[1] < t:
        raise ConfigError(
            f"a teacher-forced inner rollout of this horizon needs {keys.ROLLOUT_POS!r} / {keys.ROLLOUT_VEL!r} "
            f"targets of at least {t} steps (chemnoether.data.RolloutWindows)"
        )
    return replace(batch, atom={**atom, keys.POS: atom[keys.ROLLOUT_POS][:, t - 1], keys.VEL: atom[keys.ROLLOUT_VEL][:, t - 1]})


def tailoring_loss(
    model: Callable,
    batch: GraphTensors,
    g: Embedding,
    conditioning: Sequence[BlockCondition] | None,
    horizon: int = 1,
    mode: str = "initial",
    inner: str = "autoregressive",
    reference: torch.Tensor | None = None,
    cache: dict | None = None,
) -> torch.Tensor:
    """(B,) per-graph Noether loss of the model's ``horizon``-step rollout from ``batch`` (``rollout``).

    ``reference``: (B, k) values standing in for ``g(batch)`` (``losses.noether_loss_per_graph``).
    """
    if inner not in INNER_ROLLOUTS:
        raise ConfigError(f"inner must be one of {INNER_ROLLOUTS}, got {inner!r}")
    states = rollout(model, batch, conditioning, horizon, inner == "teacher_forced", cache)
    return noether_loss_per_graph(g, states, mode, reference)


def tailor(
    model: torch.nn.Module,
    batch: GraphTensors,
    g: Embedding,
    *,
    steps: int = 1,
    lr: float = 1e-2,
    optimizer: str = "sgd",
    horizon: int = 1,
    mode: str = "initial",
    inner: str = "autoregressive",
    keep_if_improved: bool = False,
    learned_lr: torch.Tensor | None = None,
    create_graph: bool = False,
    reference: torch.Tensor | None = None,
    blocks: int | None = None,
) -> tuple[Prediction, TailoringInfo]:
    """Tailor per-graph conditioning of ``model`` to the Noether loss of ``g``; predict with it.

    See the module docstring and ``TailoringOptions`` for the options. ``learned_lr``: a scalar
    tensor (e.g. ``exp`` of an ``nn.Parameter``) used as the inner learning rate instead of ``lr``.
    Runs with gradients enabled even inside ``torch.no_grad()`` (the inner step needs them); the
    returned prediction then carries no graph. ``reference``: (B, k) values of g that the rollout
    must keep, instead of ``g(batch)`` (e.g. g at the start of a long rollout; detached here).
    Returns ``(prediction, TailoringInfo)``.
    """
    options = TailoringOptions(
        steps=steps, lr=lr, optimizer=optimizer, horizon=horizon, mode=mode, inner=inner,
        keep_if_improved=keep_if_improved, create_graph=create_graph, blocks=blocks,
    )
    n_blocks = len(getattr(model, "conditioning_sizes", ()))
    outer_grad = torch.is_grad_enabled()
    with torch.enable_grad():
        reference = None if reference is None else reference.detach()
        # the untailored first blocks run once per prediction (blocks=...), when the model can
        cache = {} if _takes_cache(type(model)) else None
        params, info = _inner_loop(model, batch, g, options, learned_lr, outer_grad, reference, cache)
    if not outer_grad:
        params = [p.detach() for p in params]
    with torch.set_grad_enabled(outer_grad):
        extra = {"cache": cache} if cache is not None else {}
        prediction = model(batch, conditioning=as_conditioning(params, n_blocks), **extra)
    info.conditioning = as_conditioning([p.detach() for p in params], n_blocks)
    return prediction, info


@functools.lru_cache(maxsize=None)
def _takes_cache(model_type: type) -> bool:
    # once per model class: tailor runs at every step of every tailored rollout
    return "cache" in inspect.signature(model_type.forward).parameters


def _inner_loop(model, batch, g, options: TailoringOptions, learned_lr, outer_grad: bool, reference=None, cache=None):
    params = identity_parameters(model, batch, options.blocks)
    n_blocks = len(model.conditioning_sizes)
    identity = [p.detach() for p in params]
    b = batch.num_graphs
    failed = torch.zeros(b, dtype=torch.bool, device=batch.device)
    step_size = learned_lr if learned_lr is not None else options.lr
    # second order only when someone can use it: inside torch.no_grad() nothing backpropagates
    create_graph = options.create_graph and outer_grad
    moments = [(torch.zeros_like(p), torch.zeros_like(p)) for p in params]
    loss_before = None
    for step in range(1, options.steps + 1):
        per_graph = tailoring_loss(
            model, batch, g, as_conditioning(params, n_blocks), options.horizon, options.mode, options.inner, reference,
            cache,
        )
        if loss_before is None:
            loss_before = per_graph.detach()
        failed = failed | ~torch.isfinite(per_graph)
        # torch.where, not a product: 0 * NaN is NaN, and the failed graph's loss must not count
        total = torch.where(failed, torch.zeros_like(per_graph), per_graph).sum()
        grads = torch.autograd.grad(total, params, create_graph=create_graph, retain_graph=True, allow_unused=True)
        grads = [torch.zeros_like(p) if grad is None else grad for p, grad in zip(params, grads)]
        for grad in grads:
            failed = failed | ~torch.isfinite(grad.detach()).all(dim=1)
        grads = [_rows_zeroed(grad, failed) for grad in grads]
        if options.optimizer == "sgd":
            params = [p - step_size * grad for p, grad in zip(params, grads)]
        else:
            params, moments = _adam(params, grads, moments, step, step_size)
    kept = ~failed
    loss_after = None
    if options.keep_if_improved:
        with torch.no_grad():
            loss_after = tailoring_loss(
                model, batch, g, as_conditioning(params, n_blocks), options.horizon, options.mode, options.inner,
                reference, cache,
            )
        kept = kept & torch.isfinite(loss_after) & (loss_after < loss_before)
    # a graph that is not kept gets exactly its identity parameters back (no gradient path)
    params = [torch.where(kept.unsqueeze(1), p, ref) for p, ref in zip(params, identity)]
    info = TailoringInfo(conditioning=[], loss_before=loss_before, loss_after=loss_after, failed=failed, kept=kept)
    return params, info


def _rows_zeroed(grad: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    return torch.where(rows.unsqueeze(1), torch.zeros_like(grad), grad)


def _adam(params, grads, moments, step: int, step_size):
    """One functional Adam step (differentiable, so usable with create_graph)."""
    beta1, beta2 = ADAM_BETAS
    new_params, new_moments = [], []
    for p, grad, (m, v) in zip(params, grads, moments):
        m = beta1 * m + (1 - beta1) * grad
        v = beta2 * v + (1 - beta2) * grad * grad
        m_hat, v_hat = m / (1 - beta1**step), v / (1 - beta2**step)
        # sqrt(v + eps^2) rather than sqrt(v) + eps: same step, but a finite derivative at v = 0,
        # which a second-order meta-gradient would otherwise meet (a zero gradient entry)
        new_params.append(p - step_size * m_hat / (v_hat + ADAM_EPS**2).sqrt())
        new_moments.append((m, v))
    return new_params, new_moments


def meta_tailoring_loss(
    model: torch.nn.Module,
    g: Embedding,
    batch: GraphTensors,
    options: TailoringOptions,
    task_loss_fn: Callable[[Prediction, GraphTensors], torch.Tensor],
    learned_lr: torch.Tensor | None = None,
) -> torch.Tensor:
    """Scalar outer loss ``task_loss_fn(tailored prediction, batch)`` (Noether networks, Algorithm 1).

    Backpropagating it trains the model (and, with ``options.create_graph``, g and a
    ``learned_lr``) through the inner step. ``NoetherTailoredModel`` wraps the same for ``fit``.
    """
    prediction, _ = tailor(
        model, batch, g,
        steps=options.steps, lr=options.lr, optimizer=options.optimizer, horizon=options.horizon,
        mode=options.mode, inner=options.inner, keep_if_improved=options.keep_if_improved, learned_lr=learned_lr,
        create_graph=options.create_graph, blocks=options.blocks,
    )
    return task_loss_fn(prediction, batch)
