"""Prediction-time tailoring of CN parameters and meta-tailoring (Alg. 1) for the toy systems.

``g`` maps phase-space points ``(..., 2)`` to ``(...)`` or ``(..., k)``: the true H (oracle), a
symbolic formula, or a neural net; the learned and symbolic ones are
``chemnoether.noether.ConservedQuantity`` objects with no spatial symmetry. The Noether loss is
the package's one ``conservation_loss``, summed over trajectories (never averaged) so that the
inner step size does not depend on the batch size.

Why this module keeps a tailoring and training loop of its own rather than
``chemnoether.noether.tailor`` and ``chemnoether.train``: the paper's models are MLPs on a
phase-space vector with one conditioning vector per trajectory, integrated with RK4, not
``DynamicsModel`` objects on graph batches; reproducing the paper's table needs exactly their
setup, and wrapping a 2-number state as a molecular graph would test nothing more.
"""

from __future__ import annotations

import torch
from torch import nn

from chemnoether.noether.quantity import ConservedQuantity, conservation_loss

from .mlp import CNMLP, rollout


def _as_vec(v: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Give g's output a trailing feature axis so scalar and vector g share the loss."""
    return v.unsqueeze(-1) if v.dim() == x.dim() - 1 else v


def noether_loss_per_traj(g, traj: torch.Tensor) -> torch.Tensor:
    """``sum_t |g(x_0) - g(x_t)|^2`` for each trajectory of ``traj`` ``(B, T, 2)``: ``(B,)``."""
    v = _as_vec(g(traj), traj)  # (B, T, k)
    return conservation_loss(list(v.unbind(1)))


def noether_loss(g, traj: torch.Tensor) -> torch.Tensor:
    """Summed over trajectories (see module docstring)."""
    return noether_loss_per_traj(g, traj).sum()


def inner_step(model: CNMLP, g, x0: torch.Tensor, cn: torch.Tensor, dt: float, steps: int,
               lr: float, create_graph: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """One SGD step on the CN parameters; returns ``(new cn, per-trajectory loss before the step)``.

    With ``create_graph`` the step stays differentiable (second order meta-gradient).
    """
    if not cn.requires_grad:
        cn = cn.detach().requires_grad_(True)
    per = noether_loss_per_traj(g, rollout(model, x0, dt, steps, cn))
    (grad,) = torch.autograd.grad(per.sum(), cn, create_graph=create_graph)
    return cn - lr * grad, per


def tailor(model: CNMLP, g, x0: torch.Tensor, dt: float, steps: int, k: int = 1, lr: float = 1e-3,
           keep_best: bool = True) -> torch.Tensor:
    """Test-time tailoring: ``k`` SGD steps from identity CN; returns per-trajectory CN (detached).

    ``keep_best`` keeps, per trajectory, the CN with the lowest Noether loss seen (identity
    included), so a too-large step can never make a trajectory's conserved-quantity drift worse.
    """
    cn = model.cn_zeros(x0.shape[0])
    best, best_loss = cn.clone(), None
    for i in range(k + 1):
        if i < k:
            new, per = inner_step(model, g, x0, cn, dt, steps, lr)
        else:  # score the final step without taking another
            with torch.no_grad():
                per = noether_loss_per_traj(g, rollout(model, x0, dt, steps, cn))
        per = per.detach()
        if best_loss is None:
            best_loss = per.clone()
        better = per < best_loss
        best[better] = cn.detach()[better]
        best_loss = torch.where(better, per, best_loss)
        if i < k:
            cn = new.detach()
    return best if keep_best else cn.detach()


def meta_loss(model: CNMLP, g, x: torch.Tensor, dxdt: torch.Tensor, dt: float, inner_lr: float,
              create_graph: bool = True) -> torch.Tensor:
    """Outer loss of one meta-tailoring episode (their Algorithm 1, one inner step).

    The inner Noether loss is on the model's own rollout from each trajectory's first state
    (autoregressive, as at test time); the outer loss is the vanilla task loss (MSE of
    ``f(x_t; cn')`` against ``dx/dt``) with the tailored CN, so a learned g is rewarded only
    for making tailoring help the task.
    """
    cn0 = model.cn_zeros(x.shape[0], requires_grad=True)
    cn, _ = inner_step(model, g, x[:, 0], cn0, dt, x.shape[1] - 1, inner_lr, create_graph)
    return ((model(x, cn) - dxdt) ** 2).mean()


class NeuralG(ConservedQuantity):
    """Learned conserved quantity ``g_phi: R^2 -> R^k`` (tanh MLP) of a phase-space point."""

    kind = "toy_learned"
    symmetries = ()  # a (q, p) point has no spatial symmetry to respect

    def __init__(self, hidden: int = 64, out_dim: int = 1):
        super().__init__()
        self.k = out_dim
        self.net = nn.Sequential(nn.Linear(2, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(),
                                 nn.Linear(hidden, out_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def meta_train(model: CNMLP, g: nn.Module, x: torch.Tensor, dxdt: torch.Tensor, dt: float,
               steps: int = 300, lr: float = 1e-3, inner_lr: float = 1e-3, batch: int = 10,
               seed: int = 0, log_every: int = 0) -> list[float]:
    """Train ``model`` and ``g`` jointly on the meta loss (second order through one inner step)."""
    opt = torch.optim.Adam(list(model.parameters()) + list(g.parameters()), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    losses = []
    for step in range(steps):
        idx = torch.randperm(x.shape[0], generator=gen)[:batch]
        loss = meta_loss(model, g, x[idx], dxdt[idx], dt, inner_lr)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
        if log_every and step % log_every == 0:
            print(f"  meta step {step}: outer mse {float(loss):.2e}")
    return losses
