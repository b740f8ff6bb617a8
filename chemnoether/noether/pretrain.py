"""Pre-training a learned g to be conserved along true dynamics and to see states that break it.

Meta-tailoring alone teaches g only through the second-order path of one inner step, which is a
weak signal early in training. This gives g a head start with the variance-filter idea of the
symbolic search (Alet et al. 2021): a conserved quantity barely changes along a true trajectory
but changes when the state is knocked off it. Per batch of windows ``(x_t, x_{t+delta})``:

    loss = mean_graphs |g(x_t) - g(x_{t+delta})|^2 / mean_graphs |g(x_t) - g(x~)|^2

where ``x~`` is the true next state with Gaussian noise on positions (``position_noise`` Å) and
velocities (``velocity_noise`` times their spread): the kind of error a model's step makes, which
changes energy. The ratio is scale-free, so g cannot win by shrinking.

A kinetic-anchored g (``anchored.KineticAnchoredEnergy``) is pre-trained instead on
``anchored.kinetic_anchor_loss``: the share of the kinetic energy change along the true step that
g still shows, which no constant can lower (it needs no knocks and no energy labels).
"""

from __future__ import annotations

import logging
from dataclasses import replace

import torch

from chemnoether import keys
from chemnoether._progress import progress_bar
from chemnoether.core.tensors import GraphTensors
from chemnoether.errors import ConfigError
from chemnoether.noether.anchored import kinetic_anchor_loss, trajectory_anchor_loss

logger = logging.getLogger(__name__)


def _next_state(batch: GraphTensors) -> GraphTensors:
    return replace(batch, atom={**batch.atom, keys.POS: batch.atom[keys.NEXT_POS], keys.VEL: batch.atom[keys.NEXT_VEL]})


def _knocked(state: GraphTensors, position_noise: float, velocity_noise: float, generator: torch.Generator) -> GraphTensors:
    pos, vel = state.atom[keys.POS], state.atom[keys.VEL]
    noise_pos = torch.randn(pos.shape, generator=generator, dtype=pos.dtype).to(pos.device)
    noise_vel = torch.randn(vel.shape, generator=generator, dtype=vel.dtype).to(vel.device)
    spread = vel.std()
    return replace(state, atom={
        **state.atom, keys.POS: pos + position_noise * noise_pos, keys.VEL: vel + velocity_noise * spread * noise_vel,
    })


def conservation_contrast(
    g: torch.nn.Module, batch: GraphTensors, position_noise: float, velocity_noise: float, generator: torch.Generator
) -> torch.Tensor:
    """Scalar: g's change along the true step over its change to a knocked-off state (module docstring)."""
    now = g(batch)
    along = (now - g(_next_state(batch))).pow(2).sum(dim=1).mean()
    off = (now - g(_knocked(_next_state(batch), position_noise, velocity_noise, generator))).pow(2).sum(dim=1).mean()
    return along / (off + 1e-12)


def pretrain_embedding(
    g: torch.nn.Module,
    windows,
    steps: int,
    *,
    batch_size: int = 64,
    lr: float = 1e-3,
    position_noise: float = 0.02,
    velocity_noise: float = 0.2,
    seed: int = 0,
    log_every: int = 50,
    progress: bool = False,
    schedule: str = "constant",
    clip_norm: float | None = None,
    anchor: str = "window",
) -> list[float]:
    """Train ``g`` alone for ``steps`` Adam steps on ``windows`` (``PairWindows``); returns the losses.

    ``progress``: a progress bar (a line every 10 s in a log file), as the training loop shows.
    ``schedule``: ``"constant"`` at ``lr``, or ``"one_cycle"`` (warm up to ``lr`` over the first 5%,
    then anneal to zero: a long fit at a constant rate ends noisy). ``clip_norm``: clip the gradient
    norm to this (the anchor loss is a ratio of small numbers and can spike). ``anchor``, for a
    kinetic-anchored g: ``"window"`` (conserved across each window) or ``"trajectory"`` (the
    windows are one NVE trajectory: conserved across the whole batch, ``trajectory_anchor_loss``).
    """
    if anchor not in ("window", "trajectory"):
        raise ConfigError(f"anchor={anchor!r}: choose 'window' or 'trajectory'")
    if schedule not in ("constant", "one_cycle"):
        raise ConfigError(f"schedule={schedule!r}: choose 'constant' or 'one_cycle'")
    from chemnoether.data.windows import window_loader  # lazy: keeps DGL out of `import chemnoether.noether`

    generator = torch.Generator().manual_seed(seed)
    device = next(g.parameters()).device
    dtype = next(g.parameters()).dtype
    optimizer = torch.optim.Adam(g.parameters(), lr=lr)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=steps, pct_start=0.05) \
        if schedule == "one_cycle" else None
    losses: list[float] = []
    g.train()
    bar = progress_bar(total=steps, desc="pre-training g", unit="step", disable=not progress)
    while len(losses) < steps:
        for batch in window_loader(windows, batch_size, shuffle=True, seed=seed + len(losses)):
            batch = batch.to(device=device, dtype=dtype)
            if getattr(g, "kind", None) == "anchored":
                loss = kinetic_anchor_loss(g, batch, _next_state(batch)) if anchor == "window" \
                    else trajectory_anchor_loss(g, batch)
            else:
                loss = conservation_contrast(g, batch, position_noise, velocity_noise, generator)
            optimizer.zero_grad()
            loss.backward()
            if clip_norm is not None:
                torch.nn.utils.clip_grad_norm_(g.parameters(), clip_norm)
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            losses.append(float(loss.detach()))
            bar.update(1)
            bar.set_postfix(loss=f"{losses[-1]:.4g}", refresh=False)
            if len(losses) % log_every == 0 or len(losses) == steps:
                logger.info("g pre-training step %d/%d: loss %.4g", len(losses), steps, losses[-1])
            if len(losses) >= steps:
                break
    bar.close()
    return losses
