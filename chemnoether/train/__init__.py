"""Training: one entry point (``fit``) for every recipe, its config, checkpoints and metrics.

``load_recipe`` reads a YAML recipe (``data:``, ``model:``, ``train:``) with overrides;
``fit(model, train, val, recipe.train, run_dir)`` trains with exact resume, checkpoints
(``last.pt``, ``best.pt``, plain data for ``torch.load(..., weights_only=True)``) and
``metrics.csv``, on one device or under ``torchrun``; ``load_model(run_dir)`` rebuilds the model.
"""

from chemnoether.errors import CheckpointError, NonFiniteLossError
from chemnoether.train._runtime import seed_everything
from chemnoether.train.checkpoint import find_checkpoint, load_model, read_checkpoint
from chemnoether.train.config import (
    LossWeights,
    Recipe,
    TrainConfig,
    apply_override,
    load_recipe,
    recipe_from_dict,
    save_recipe,
)
from chemnoether.train.distributed import DistEnv, dist_env_from_environ
from chemnoether.train.loop import fit
from chemnoether.train.loss import next_state_loss
from chemnoether.train.metrics_log import COLUMNS as METRICS_COLUMNS
from chemnoether.train.state import Callback, FitResult, TrainState

__all__ = [
    "METRICS_COLUMNS",
    "Callback",
    "CheckpointError",
    "DistEnv",
    "FitResult",
    "LossWeights",
    "NonFiniteLossError",
    "Recipe",
    "TrainConfig",
    "TrainState",
    "apply_override",
    "dist_env_from_environ",
    "find_checkpoint",
    "fit",
    "load_model",
    "load_recipe",
    "next_state_loss",
    "read_checkpoint",
    "recipe_from_dict",
    "save_recipe",
    "seed_everything",
]
