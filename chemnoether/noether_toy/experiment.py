"""One system's full Noether-Networks-on-HNN experiment: vanilla, oracle, symbolic, neural g.

Rows (all from the same vanilla MLP and data, seed fixed):

* vanilla: MLP ``f`` fit to ``(x, dx/dt)``; RK4 rollout from each test ``x_0``.
* oracle: test-time tailoring of ``f``'s CN with ``g = H`` (true Hamiltonian, scaled by its std
  over training states so one learning-rate grid fits both systems).
* symbolic (the paper's "Noether" row): search (``symbolic.py``), screen the top ``n_screen``
  by the rollout-RMSE gain of *one* tailoring step on the held-out validation trajectories, keep the
  best ``n_keep``, then pick among them by ``k``-step tailoring on the held-out set.
* vanilla_ft: control, the vanilla ``f`` trained ``meta_steps`` more steps without tailoring.
* neural g: ``f`` (from vanilla) and ``g_phi`` meta-trained jointly (``meta_train``), then
  tailored ``k`` steps at test time with the training inner learning rate.

Each row's inner learning rate and step count (1 or ``k``) are chosen on ``n_val`` extra
held-out validation trajectories (same distribution and noise as training; never test). RMSE: see ``mlp.rmse``.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from chemnoether.noether.quantity import ConservedQuantity

from . import symbolic
from .mlp import CNMLP, fit_vector_field, rmse, rollout
from .systems import System, make_dataset
from .tailoring import NeuralG, meta_train, tailor

PAPER = {  # Noether Networks Table (RMSE): vanilla, Noether, oracle
    "pendulum": {"vanilla": 0.0563, "noether": 0.0423, "oracle": 0.0422},
    "spring": {"vanilla": 0.0174, "noether": 0.0165, "oracle": 0.0166},
}


@dataclass
class Preset:
    vanilla_steps: int = 2000
    meta_steps: int = 200
    meta_batch: int = 10
    inner_lr_train: float = 1e-3
    k: int = 10
    lr_grid: tuple = (1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2)
    n_screen: int = 5
    n_keep: int = 3
    n_val: int = 10
    noise_std: float = 0.0
    seeds: tuple = (0,)


PRESETS = {
    "quick": Preset(),
    "full": Preset(vanilla_steps=5000, meta_steps=2000, k=20, n_screen=20, n_keep=5, seeds=(0, 1, 2)),
}


@dataclass
class Result:
    system: str
    seed: int
    rmse: dict = field(default_factory=dict)
    formulas: list = field(default_factory=list)  # (str, ratio, screen gain)
    chosen: str = ""
    lrs: dict = field(default_factory=dict)
    rollouts: dict = field(default_factory=dict)  # row -> (n_plot, T, 2) numpy
    seconds: float = 0.0


class HamiltonianQuantity(ConservedQuantity):
    """The oracle g: the system's true H over ``scale`` (its std on the training states)."""

    kind = "toy_hamiltonian"
    symmetries = ()

    def __init__(self, system: System, scale: float):
        super().__init__()
        self.system, self.scale = system, scale

    def forward(self, x):
        return self.system.hamiltonian(x) / self.scale


def _tailored_rmse(model, g, x, dt, k, lr):
    cn = tailor(model, g, x[:, 0], dt, x.shape[1] - 1, k=k, lr=lr)
    with torch.no_grad():
        pred = rollout(model, x[:, 0], dt, x.shape[1] - 1, cn)
    return rmse(pred, x), pred


def _best_lr(model, g, x_val, dt, k, grid):
    """Inner learning rate with the lowest held-out tailored rollout RMSE."""
    scores = {lr: _tailored_rmse(model, g, x_val, dt, k, lr)[0] for lr in grid}
    lr = min(scores, key=scores.get)
    return lr, scores[lr]


def _best_lr_k(model, g, x_val, dt, ks, grid):
    """``(lr, k, held-out RMSE)`` over the grid and the step counts ``ks``."""
    return min(((*_best_lr(model, g, x_val, dt, k, grid), k) for k in ks), key=lambda s: s[1])


def run(system: System, preset: Preset, seed: int = 0, n_plot: int = 3, log=print) -> Result:
    t0 = time.time()
    torch.manual_seed(seed)
    data = make_dataset(system, noise_std=preset.noise_std, seed=seed, n_val=preset.n_val)
    x_tr = torch.tensor(data["x_train"], dtype=torch.float32)
    dx_tr = torch.tensor(data["dxdt_train"], dtype=torch.float32)
    x_te = torch.tensor(data["x_test"], dtype=torch.float32)
    x_val = torch.tensor(data["x_val"], dtype=torch.float32)  # picks lr / k / formula
    dt, steps = system.dt, x_te.shape[1] - 1
    res = Result(system.name, seed)

    def record(name, pred, value):
        res.rmse[name] = value
        res.rollouts[name] = pred[:n_plot].numpy()
        log(f"[{system.name} seed {seed}] {name}: rmse {value:.4f}")

    res.rollouts["true"] = x_te[:n_plot].numpy()
    model = CNMLP()
    fit_vector_field(model, x_tr, dx_tr, steps=preset.vanilla_steps)
    with torch.no_grad():
        pred = rollout(model, x_te[:, 0], dt, steps)
    record("vanilla", pred, rmse(pred, x_te))

    # oracle: true H, scaled to unit std over training states
    h_scale = float(system.hamiltonian(x_tr).std())
    oracle = HamiltonianQuantity(system, h_scale)
    lr, _, k = _best_lr_k(model, oracle, x_val, dt, (1, preset.k), preset.lr_grid)
    res.lrs["oracle"] = (lr, k)
    value, pred = _tailored_rmse(model, oracle, x_te, dt, k, lr)
    record("oracle", pred, value)

    # symbolic: filter -> screen by one step -> keep best few -> choose on held-out with k steps
    cands = symbolic.conserved(data["x_train"], system.q_is_angle, fallback=preset.n_screen)[: preset.n_screen]
    with torch.no_grad():
        base_val = rmse(rollout(model, x_val[:, 0], dt, steps), x_val)
    screened = []
    for f in cands:
        g = symbolic.as_torch(f)
        lr1, val1 = _best_lr(model, g, x_val, dt, 1, preset.lr_grid)
        screened.append((base_val - val1, f, lr1))
        res.formulas.append((str(f), f.ratio, base_val - val1))
    screened.sort(key=lambda s: -s[0])
    best = None
    for _gain, f, _lr in screened[: preset.n_keep]:
        g = symbolic.as_torch(f)
        lr, val, k = _best_lr_k(model, g, x_val, dt, (1, preset.k), preset.lr_grid)
        if best is None or val < best[0]:
            best = (val, f, lr, k)
    _, f, lr, k = best
    res.chosen, res.lrs["symbolic"] = str(f), (lr, k)
    log(f"[{system.name} seed {seed}] symbolic g: {f} (variance ratio {f.ratio:.2e}, lr {lr:g}, k {k})")
    value, pred = _tailored_rmse(model, symbolic.as_torch(f), x_te, dt, k, lr)
    record("symbolic", pred, value)

    # control for the neural row's extra training: vanilla fine-tuned as many more steps
    f_ft = copy.deepcopy(model)
    fit_vector_field(f_ft, x_tr, dx_tr, steps=preset.meta_steps)
    with torch.no_grad():
        pred = rollout(f_ft, x_te[:, 0], dt, steps)
    record("vanilla_ft", pred, rmse(pred, x_te))

    # neural g, meta-tailored jointly with f (starting from the vanilla f)
    f_meta, g_phi = copy.deepcopy(model), NeuralG()
    meta_train(f_meta, g_phi, x_tr, dx_tr, dt, steps=preset.meta_steps, inner_lr=preset.inner_lr_train,
               batch=preset.meta_batch, seed=seed)
    with torch.no_grad():
        pred = rollout(f_meta, x_te[:, 0], dt, steps)
    record("neural_g_untailored", pred, rmse(pred, x_te))
    # test-time (lr, k) chosen on held-out like the other rows; the training lr with k=1 is in the grid
    grid = tuple(sorted(set(preset.lr_grid) | {preset.inner_lr_train}))
    lr, _, k = _best_lr_k(f_meta, g_phi, x_val, dt, (1, preset.k), grid)
    value, pred = _tailored_rmse(f_meta, g_phi, x_te, dt, k, lr)
    record("neural_g", pred, value)
    res.lrs["neural_g"] = (lr, k)
    res.seconds = time.time() - t0
    return res


def summarise(results: list[Result]) -> dict[str, dict[str, tuple[float, float]]]:
    """system -> row -> (mean, std over seeds)."""
    out: dict = {}
    for r in results:
        for row, v in r.rmse.items():
            out.setdefault(r.system, {}).setdefault(row, []).append(v)
    return {s: {row: (float(np.mean(v)), float(np.std(v))) for row, v in rows.items()} for s, rows in out.items()}
