"""A run's anchored g, fitted once and kept in the run: the learned conserved quantity without labels.

``noether.anchored.KineticAnchoredEnergy`` is ``K(v) + V_phi(x)``, fitted on the run's own
training windows so that it is conserved along them (``kinetic_anchor_loss``), never on an energy.
A quick fit (``noether.anchored.PRETRAIN_STEPS``) takes half a minute but leaves ``V_phi`` a poor
potential; ``fit_anchored_g`` runs the long schedule (``FIT_STEPS``, one-cycle learning rate,
clipped gradients), conserving g across the whole trajectory when the data are one NVE run
(``anchor_of``), and ``chemnoether md fit-g RUN_DIR`` saves it as ``RUN_DIR/anchored_g.pt``,
with the R^2 of ``V_phi`` against the reference potential on the test split it never saw. Test-time
tailoring (``--tailor anchored``) and learned MD (``--rescale anchored``) then use that file.
"""

from __future__ import annotations

import logging
import time

import numpy as np
import torch

from chemnoether.errors import ConfigError, GraphFormatError
from chemnoether.train.recipe_data import windows_from_options

logger = logging.getLogger(__name__)

# measured on the learned-MD quick recipe (ethanol, MMFF94 at 300 K, 5 fs windows): with these
# settings R^2 of V_phi against the MMFF94 potential on test frames 0.929 (benchmarks/README.md)
FIT_STEPS = 15_000
FIT_LR = 2e-3
FIT_HIDDEN = 64
FIT_LAYERS = 3
FIT_CLIP_NORM = 10.0


def _elements(run) -> list[int]:
    model = getattr(run.model, "model", run.model)  # a tailored run wraps its dynamics model
    return [int(z) for z in model.config["elements"]]


def anchor_of(run, anchor: str = "auto") -> str:
    """``"trajectory"`` for a run on generated MD (``data.molecule``: one NVE trajectory, every state
    at the same total energy), else ``"window"`` (a read file may be thermostatted); or as given."""
    if anchor not in ("auto", "window", "trajectory"):
        raise ConfigError(f"anchor={anchor!r}: choose auto, window or trajectory")
    if anchor != "auto":
        return anchor
    return "trajectory" if getattr(run.recipe.data, "molecule", None) is not None else "window"


def fit_anchored_g(run, *, steps: int = FIT_STEPS, lr: float = FIT_LR, hidden: int = FIT_HIDDEN, layers: int = FIT_LAYERS,
                   anchor: str = "auto", seed: int | None = None, progress: bool = False):
    """``(g, fit record)``: an anchored g fitted on ``run``'s training windows (module docstring).

    ``run``: an opened run (``train.run_dir.open_run``); its ``windows`` (the evaluated split) give
    the R^2 of ``V_phi`` against the reference potential when they carry energies. ``anchor``: what
    g is conserved across (``anchor_of``): each window, or the whole NVE trajectory of the data.
    """
    from chemnoether.noether.anchored import KineticAnchoredEnergy  # lazy: keeps e3nn out of `import chemnoether.evaluate`
    from chemnoether.noether.pretrain import pretrain_embedding  # lazy: keeps e3nn out of `import chemnoether.evaluate`

    if steps < 1 or not lr > 0 or hidden < 1 or layers < 1:
        raise ConfigError(f"fit-g needs steps, hidden, layers >= 1 and lr > 0; got steps={steps}, lr={lr}, "
                          f"hidden={hidden}, layers={layers}")
    seed = run.recipe.train.seed if seed is None else seed
    anchor = anchor_of(run, anchor)
    train = windows_from_options(run.recipe.data).train
    torch.manual_seed(seed)
    g = KineticAnchoredEnergy(_elements(run), hidden=hidden, layers=layers).to(run.device)
    began = time.perf_counter()
    losses = pretrain_embedding(g, train, steps, lr=lr, seed=seed, schedule="one_cycle", clip_norm=FIT_CLIP_NORM,
                                anchor=anchor, progress=progress, log_every=max(steps // 20, 1))
    g.eval()
    tail = losses[-max(len(losses) // 100, 1):]
    fit = {"steps": steps, "lr": lr, "hidden": hidden, "layers": layers, "seed": seed, "anchor": anchor, "schedule": "one_cycle",
           "final_loss": float(np.mean(tail)), "final_loss_over_steps": len(tail), "train_windows": len(train),
           "seconds": time.perf_counter() - began}
    fit.update(anchored_g_r2(g, run))
    return g, fit


def anchored_g_r2(g, run) -> dict:
    """``{"r2_potential", "r2_total", "r2_states"}`` of g on the run's evaluated windows, or ``{}``
    with a log line when they carry no energies (a read trajectory without them)."""
    from chemnoether.noether.readout import g_energy_r2  # lazy: keeps e3nn out of `import chemnoether.evaluate`

    try:
        r2 = g_energy_r2(g, run.windows)
    except GraphFormatError as err:
        logger.info("no R^2 of the anchored g: %s", err)
        return {}
    return {"r2_potential": r2["potential"], "r2_total": r2["total"], "r2_states": r2["n_states"]}


def anchored_g_of(run):
    """The run's anchored g: ``RUN_DIR/anchored_g.pt`` when ``md fit-g`` wrote one, else a quick fit.

    The quick fit (``PRETRAIN_STEPS`` at a constant rate, as before there was a file) is logged as
    such, with the command that makes the better one.
    """
    from chemnoether.noether.anchored import (  # lazy: keeps e3nn out of `import chemnoether.evaluate`
        ANCHORED_G_FILE,
        PRETRAIN_LR,
        PRETRAIN_STEPS,
        KineticAnchoredEnergy,
        load_anchored_g,
    )
    from chemnoether.noether.pretrain import pretrain_embedding  # lazy: keeps e3nn out of `import chemnoether.evaluate`

    path = run.run_dir / ANCHORED_G_FILE
    if path.exists():
        g, fit = load_anchored_g(path, run.device)
        if sorted(g.config["elements"]) != sorted(_elements(run)):
            raise ConfigError(f"{path} was fitted for elements {g.config['elements']}, the run's model has "
                              f"{_elements(run)}; fit it again with `chemnoether md fit-g {run.run_dir}`")
        logger.info("anchored g from %s (%d steps; R^2 of V against the reference potential %s)", path, fit["steps"],
                    f"{fit['r2_potential']:.3f}" if "r2_potential" in fit else "not measured")
        return g
    logger.warning("no %s in %s: pre-training a quick anchored g (%d steps); `chemnoether md fit-g %s` fits a better one",
                   ANCHORED_G_FILE, run.run_dir, PRETRAIN_STEPS, run.run_dir)
    train = windows_from_options(run.recipe.data).train
    torch.manual_seed(run.recipe.train.seed)
    g = KineticAnchoredEnergy(_elements(run), hidden=32, layers=2).to(run.device)
    pretrain_embedding(g, train, PRETRAIN_STEPS, lr=PRETRAIN_LR, seed=run.recipe.train.seed)
    return g.eval()
