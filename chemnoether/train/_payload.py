"""What goes into a training checkpoint, and how a resumed run takes it back."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch

import chemnoether
from chemnoether.errors import ConfigError
from chemnoether.train.checkpoint import (
    FORMAT,
    check_state_keys,
    rng_state,
    set_rng_state,
)
from chemnoether.train.distributed import gather_objects
from chemnoether.train.state import TrainState

logger = logging.getLogger(__name__)

# options a resumed run may change: how long and how often, not what is learned
RESUMABLE_CHANGES = frozenset({
    "epochs", "max_steps", "early_stopping_patience", "early_stopping_min_delta", "eval_every",
    "checkpoint_every", "log_every", "num_workers", "device", "progress", "val_batch_size",
})


@dataclass(frozen=True)
class ModelIdentity:
    """The model's ``kind`` and builder ``config`` (``build_model(kind, **config)`` rebuilds it)."""

    kind: str | None
    config: dict | None

    @classmethod
    def of(cls, model: torch.nn.Module, recipe=None) -> ModelIdentity:
        # the models' interface: `kind` and `config` attributes; a recipe's model.kind stands in for kind
        kind = getattr(model, "kind", None)
        if kind is None and recipe is not None and isinstance(recipe.model, Mapping):
            kind = recipe.model.get("kind")
        config = getattr(model, "config", None)
        if kind is not None and not isinstance(kind, str):
            raise ConfigError(f"model.kind must be a string, got {kind!r}")
        if config is None:
            return cls(kind, None)
        if not isinstance(config, Mapping):
            raise ConfigError(f"model.config must be a mapping of builder keywords, got {type(config).__name__}")
        try:
            # a JSON round trip keeps plain types only, which weights_only loading needs
            plain = json.loads(json.dumps(dict(config), allow_nan=False))
        except (TypeError, ValueError) as err:
            raise ConfigError(f"model.config must be JSON-serialisable (numbers, strings, lists, dicts): {err}") from err
        return cls(kind, plain)


def build_payload(trainer) -> dict:
    """The checkpoint of ``trainer`` now (collective: gathers every process's RNG state)."""
    state: TrainState = trainer.state
    config = trainer.config
    return {
        "format": FORMAT,
        "chemnoether_version": chemnoether.__version__,
        "model_kind": trainer.identity.kind,
        "model_config": trainer.identity.config,
        "model_state": _to_cpu(trainer.module.state_dict()),
        "optimizer_state": _to_cpu(trainer.optimizer.state_dict()),
        "schedule_state": trainer.schedule.state_dict(),
        "scaler_state": _to_cpu(trainer.scaler.state_dict()),
        "train_state": state.to_dict(),
        "data_state": {
            "seed": config.seed,
            "epoch": state.epoch,
            "batch_in_epoch": state.batch_in_epoch,
            "train_size": len(trainer.train_data),
            "world_size": trainer.env.world_size,
            "batch_size": config.batch_size,
        },
        "rng": gather_objects(rng_state(), trainer.env),
        "train_config": config.to_dict(),
        "recipe": trainer.recipe.to_dict() if trainer.recipe is not None else None,
    }


def restore_payload(trainer, payload: dict, path: Path) -> None:
    """Put ``trainer`` back in the state of ``payload``; a ``ConfigError`` if the run differs."""
    _check_same_run(trainer, payload, path)
    check_state_keys(trainer.module.state_dict(), payload["model_state"], path, trainer.identity.kind,
                      payload.get("chemnoether_version"))
    trainer.module.load_state_dict(payload["model_state"])
    trainer.optimizer.load_state_dict(payload["optimizer_state"])
    trainer.schedule.load_state_dict(payload["schedule_state"])
    if trainer.scaler.is_enabled() and payload["scaler_state"]:
        trainer.scaler.load_state_dict(payload["scaler_state"])
    trainer.state = TrainState.from_dict(payload["train_state"])
    trainer.state.stop_reason = None
    set_rng_state(payload["rng"][trainer.env.rank])


def _check_same_run(trainer, payload: dict, path: Path) -> None:
    advice = "choose a new run_dir for a different run"
    identity = trainer.identity
    if (payload.get("model_kind"), payload.get("model_config")) != (identity.kind, identity.config):
        raise ConfigError(
            f"{path} was trained with model kind {payload.get('model_kind')!r} and config "
            f"{payload.get('model_config')}, not kind {identity.kind!r} and config {identity.config}; {advice}"
        )
    saved, now = payload["train_config"], trainer.config.to_dict()
    changed = [key for key in sorted(set(saved) | set(now)) if key not in RESUMABLE_CHANGES and saved.get(key) != now.get(key)]
    if changed:
        shown = ", ".join(f"train.{k}: {saved.get(k)!r} in the checkpoint, {now.get(k)!r} now" for k in changed)
        raise ConfigError(f"cannot resume {path} with other training options ({shown}); {advice}")
    data = payload["data_state"]
    if data["train_size"] != len(trainer.train_data):
        raise ConfigError(
            f"cannot resume {path}: it was trained on {data['train_size']} items, train_data has "
            f"{len(trainer.train_data)}; {advice}"
        )
    if data["world_size"] != trainer.env.world_size:
        raise ConfigError(
            f"cannot resume {path}: it ran on {data['world_size']} process(es), this job has "
            f"{trainer.env.world_size}; resume with the same number of processes, or {advice}"
        )


def _to_cpu(value):
    """Tensors moved to the CPU, containers kept: a checkpoint loads on a machine without a GPU."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, dict):
        return {key: _to_cpu(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_to_cpu(item) for item in value)
    return value
