"""Checkpoints as plain data: ``torch.load(path, weights_only=True)`` reads every one of them.

A checkpoint is a dict of tensors and plain Python values (no pickled objects, so one from a
stranger cannot run code): model, optimizer, schedule and gradient-scaler states, the position
in the data (epoch, batch within it), the RNG states of every process, the best val loss, the
training config, the chemnoether version and the model's kind and builder config. Writes are
atomic: a crash leaves the previous file whole.
"""

from __future__ import annotations

import os
import pickle
import random
from pathlib import Path

import numpy as np
import torch

import chemnoether
from chemnoether._atomic import atomic_write
from chemnoether.core.registry import build_model
from chemnoether.errors import CheckpointError, ConfigError

FORMAT = 1
LAST_NAME = "last.pt"
BEST_NAME = "best.pt"


def save_checkpoint(path: str | os.PathLike, payload: dict) -> Path:
    """Write ``payload`` (plain data, see ``read_checkpoint``) to ``path`` atomically."""
    return atomic_write(path, lambda tmp: torch.save(payload, tmp))


def read_checkpoint(path: str | os.PathLike, map_location="cpu") -> dict:
    """The checkpoint at ``path``, read with ``weights_only=True``; a ``CheckpointError`` if unfit."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    damaged = _damage(path)
    if damaged:
        raise CheckpointError(f"cannot read checkpoint {path}: {damaged}; {_REPLACE_HINT}")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        raise CheckpointError(
            f"{path} is not a plain-data checkpoint (torch.load with weights_only=True refused it: "
            f"{_first_line(err)}); load only checkpoints written by chemnoether.train"
        ) from err
    except Exception as err:  # noqa: BLE001 - a damaged file fails anywhere in torch's readers
        raise CheckpointError(
            f"cannot read checkpoint {path}: {type(err).__name__}: {_first_line(err) or 'no reason given'} "
            f"(the file is damaged or cut short); {_REPLACE_HINT}"
        ) from err
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise CheckpointError(f"{path} is not a chemnoether training checkpoint of format {FORMAT} (found {found!r})")
    return payload


_REPLACE_HINT = (
    "delete it and use the other checkpoint of the run (--which last / best), or resume / retrain from an earlier one"
)
_ZIP_MAGIC = b"PK\x03\x04"  # torch.save's format since PyTorch 1.6
_PICKLE_PROTOCOL_2 = b"\x80\x02"  # the legacy torch.save format starts with a pickle


def _damage(path: Path) -> str | None:
    """Why ``path`` cannot be a checkpoint at all (empty, not a torch.save file), or ``None``."""
    with path.open("rb") as file:
        head = file.read(4)
    if not head:
        return "the file is empty (0 bytes; a copy or a write was cut off)"
    if not (head.startswith(_ZIP_MAGIC) or head.startswith(_PICKLE_PROTOCOL_2)):
        return f"the file is not a torch.save file (it starts with bytes {head!r})"
    return None


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else ""


def find_checkpoint(run_dir_or_checkpoint: str | os.PathLike, which: str = "best") -> Path:
    """A checkpoint file itself, or in a run directory ``best.pt`` (``which="best"``, falling
    back to ``last.pt`` when no evaluation was ever run) or ``last.pt`` (``which="last"``)."""
    if which not in ("best", "last"):
        raise ConfigError(f"which must be 'best' or 'last', got {which!r}")
    path = Path(run_dir_or_checkpoint)
    if path.is_file():
        return path
    if not path.is_dir():
        raise CheckpointError(f"{path} is neither a checkpoint file nor a run directory")
    names = (BEST_NAME, LAST_NAME) if which == "best" else (LAST_NAME,)
    for name in names:
        if (path / name).is_file():
            return path / name
    raise CheckpointError(f"run directory {path} holds no {' or '.join(names)}; has a run been started there?")


def default_builder():
    """``build_model`` with every kind this package ships registered (the models and the tailored wrapper)."""
    # importing them registers their kinds: the dynamics models, and noether_tailored
    import chemnoether.models  # noqa: F401 - lazy: keeps e3nn out of `import chemnoether.train`
    import chemnoether.noether  # noqa: F401 - lazy: keeps e3nn out of `import chemnoether.train`

    return build_model


def load_model(
    run_dir_or_checkpoint: str | os.PathLike,
    device: str | torch.device = "cpu",
    *,
    which: str = "best",
    kind: str | None = None,
    allow_other_version: bool = False,
    builder=None,
) -> torch.nn.Module:
    """The trained model of a run directory (``best.pt``) or of a checkpoint file, in eval mode.

    Rebuilt with ``chemnoether.models.build_model(kind, **config)`` as recorded in the checkpoint
    (``builder`` replaces ``build_model``, e.g. for a model of one's own), then loaded with
    ``weights_only=True``. ``kind``: the model kind expected (a ``ConfigError`` if the checkpoint
    holds another). A checkpoint of another chemnoether version is refused unless
    ``allow_other_version``; parameters that do not match the rebuilt model are a
    ``CheckpointError`` naming the missing, unexpected and mis-shaped keys.
    """
    path = find_checkpoint(run_dir_or_checkpoint, which)
    payload = read_checkpoint(path, map_location="cpu")
    saved_kind, config = payload.get("model_kind"), payload.get("model_config")
    if saved_kind is None or config is None:
        raise CheckpointError(f"{path} does not record the model kind and config it was trained with; rebuild it yourself")
    if kind is not None and kind != saved_kind:
        raise ConfigError(f"{path} holds a {saved_kind!r} model, not the {kind!r} asked for")
    version = payload.get("chemnoether_version")
    if version != chemnoether.__version__ and not allow_other_version:
        raise CheckpointError(
            f"{path} was written by chemnoether {version}, this is {chemnoether.__version__}; "
            "pass allow_other_version=True to try loading it anyway"
        )
    if builder is None:
        builder = default_builder()

    model = builder(saved_kind, **config)
    check_state_keys(model.state_dict(), payload["model_state"], path, saved_kind, version)
    model.load_state_dict(payload["model_state"])
    return model.to(device).eval()


def rng_state() -> dict:
    """The RNG states of python, numpy and torch (and CUDA), as plain data."""
    numpy_state = np.random.get_state(legacy=False)
    state = {
        "python": random.getstate(),
        "numpy": {
            "key": torch.from_numpy(numpy_state["state"]["key"].astype(np.int64)),
            "pos": int(numpy_state["state"]["pos"]),
            "has_gauss": int(numpy_state["has_gauss"]),
            "gauss": float(numpy_state["gauss"]),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore what ``rng_state`` returned (read back from a checkpoint)."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    numpy_state = state["numpy"]
    np.random.set_state(
        {
            "bit_generator": "MT19937",
            "state": {"key": numpy_state["key"].numpy().astype(np.uint32), "pos": numpy_state["pos"]},
            "has_gauss": numpy_state["has_gauss"],
            "gauss": numpy_state["gauss"],
        }
    )
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


def check_state_keys(expected: dict, found: dict, path: Path, kind: str, version) -> None:
    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    shapes = [
        f"{k} {tuple(found[k].shape)} vs {tuple(expected[k].shape)}"
        for k in sorted(set(expected) & set(found))
        if tuple(found[k].shape) != tuple(expected[k].shape)
    ]
    if not (missing or unexpected or shapes):
        return
    parts = [
        f"{label}: {', '.join(items[:5])}{' ...' if len(items) > 5 else ''}"
        for label, items in (("missing", missing), ("unexpected", unexpected), ("shape (checkpoint vs model)", shapes))
        if items
    ]
    raise CheckpointError(
        f"the parameters in {path} do not fit the {kind!r} model rebuilt from its config "
        f"(written by chemnoether {version}, this is {chemnoether.__version__}): " + "; ".join(parts)
    )
