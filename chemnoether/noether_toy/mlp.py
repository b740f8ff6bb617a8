"""MLP vector field with conditional normalisation (CN), and an RK4 rollout.

The CN parameters are what tailoring adjusts (the paper's CNGrad): after every hidden tanh,
``h <- h * (1 + s) + b`` with a scale offset ``s`` and shift ``b`` *per trajectory*, zero
(= identity) by default. Being per trajectory, one backward pass of a loss summed over
trajectories gives each trajectory its own exact inner gradient.
"""

from __future__ import annotations

import torch
from torch import nn


class CNMLP(nn.Module):
    """``dx/dt = f(x)``: ``in_dim - hidden x depth (tanh) - out_dim`` (default 2-200-200-2)."""

    def __init__(self, in_dim: int = 2, hidden: int = 200, depth: int = 2, out_dim: int = 2):
        super().__init__()
        dims = [in_dim] + [hidden] * depth
        self.hidden_layers = nn.ModuleList(nn.Linear(i, o) for i, o in zip(dims[:-1], dims[1:]))
        self.out = nn.Linear(hidden, out_dim)
        self.hidden, self.depth = hidden, depth

    def cn_zeros(self, batch: int, **kw) -> torch.Tensor:
        """Identity CN parameters ``(batch, depth, 2, hidden)``: [:, l, 0] scale offset, [:, l, 1] shift."""
        p = next(self.parameters())
        return torch.zeros(batch, self.depth, 2, self.hidden, dtype=p.dtype, device=p.device, **kw)

    def forward(self, x: torch.Tensor, cn: torch.Tensor | None = None) -> torch.Tensor:
        """``x`` ``(B, ..., in_dim)``; ``cn`` ``(B, depth, 2, hidden)`` broadcast over the middle dims."""
        h = x
        for i, layer in enumerate(self.hidden_layers):
            h = torch.tanh(layer(h))
            if cn is not None:
                shape = (cn.shape[0],) + (1,) * (x.dim() - 2) + (self.hidden,)
                h = h * (1 + cn[:, i, 0].reshape(shape)) + cn[:, i, 1].reshape(shape)
        return self.out(h)


def rk4_rollout(f, x0: torch.Tensor, dt: float, steps: int) -> torch.Tensor:
    """Classic RK4 from ``x0`` ``(B, D)``: returns ``(B, steps + 1, D)`` including ``x0``.

    ``f`` maps ``(B, D) -> (B, D)`` (a bound CN model or the true vector field).
    """
    xs = [x0]
    x = x0
    for _ in range(steps):
        k1 = f(x)
        k2 = f(x + 0.5 * dt * k1)
        k3 = f(x + 0.5 * dt * k2)
        k4 = f(x + dt * k3)
        x = x + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        xs.append(x)
    return torch.stack(xs, 1)


def rollout(model: CNMLP, x0: torch.Tensor, dt: float, steps: int, cn: torch.Tensor | None = None):
    """RK4 rollout of the model's vector field with per-trajectory CN parameters."""
    return rk4_rollout(lambda x: model(x, cn), x0, dt, steps)


def rmse(pred: torch.Tensor, true: torch.Tensor) -> float:
    """Rollout RMSE: ``sqrt(mean over trajectories, time points (incl. t=0) and (q, p) of err^2)``."""
    return float(((pred - true) ** 2).mean().sqrt())


def fit_vector_field(model: CNMLP, x: torch.Tensor, dxdt: torch.Tensor, steps: int = 2000,
                     lr: float = 1e-3, log_every: int = 0) -> list[float]:
    """HNN's baseline: full-batch Adam on MSE of ``f(x)`` against ``dx/dt`` pairs."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    xf, yf = x.reshape(-1, x.shape[-1]), dxdt.reshape(-1, dxdt.shape[-1])
    losses = []
    for step in range(steps):
        loss = ((model(xf) - yf) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
        if log_every and step % log_every == 0:
            print(f"  vanilla step {step}: mse {float(loss):.2e}")
    return losses
