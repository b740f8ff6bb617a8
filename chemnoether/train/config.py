"""Training options and recipes: YAML with ``data:``, ``model:``, ``train:`` (and ``tailoring:``).

A recipe file is read with ``yaml.safe_load``; ``key=value`` overrides (``train.lr=1e-3``,
``train.loss_weights.vel=0.5``, ``model.channels=64``) are parsed as YAML scalars, never
evaluated. Sections with a schema (``train`` always; others where the caller passes one) are
checked key by key, so a typo or a wrong type is a ``ConfigError`` naming the key and the
expected type before any work starts. ``data``, ``model`` and ``tailoring`` are otherwise plain
mappings, checked by whoever consumes them (``build_model`` for ``model``).
"""

from __future__ import annotations

import copy
import dataclasses
import os
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from chemnoether._atomic import atomic_write
from chemnoether.errors import ConfigError
from chemnoether.core.typecheck import (
    suggestion,
    coerce,
    coerce_fields,
    from_mapping,
)

SECTIONS = ("data", "model", "train", "tailoring")
CONFIG_NAME = "config.yaml"


@dataclass
class LossWeights:
    """Weights of the default loss: ``pos * MSE(next_pos) + vel * MSE(next_vel)``.

    ``energy`` and ``forces`` (default 0) weigh the errors of a learned energy, (eV/atom)² and
    (eV/Å)² (``train.loss.energy_force_loss``; the model needs ``energy_head: true``).
    """

    pos: float = 1.0
    vel: float = 1.0
    energy: float = 0.0
    forces: float = 0.0

    def __post_init__(self):
        coerce_fields(self, "train.loss_weights")
        for name in ("pos", "vel", "energy", "forces"):
            _require(getattr(self, name) >= 0, f"train.loss_weights.{name}", "must be >= 0", getattr(self, name))
        _require(self.pos + self.vel > 0, "train.loss_weights", "needs pos or vel > 0", (self.pos, self.vel))


@dataclass
class TrainConfig:
    """Options of ``chemnoether.train.fit`` (the ``train:`` section of a recipe).

    Length: ``epochs`` and / or ``max_steps`` (training stops at whichever comes first).
    Schedule: ``warmup_steps`` of linear warm-up, then ``"cosine"`` (to ``min_lr`` at the last
    step), ``"plateau"`` (times ``plateau_factor`` after ``plateau_patience`` evaluations without
    a better val loss) or ``"constant"``. Evaluation every ``eval_every`` steps (``None``: at the
    end of every epoch); ``last.pt`` every ``checkpoint_every`` steps (``None``: at every
    evaluation) and when training stops. ``early_stopping_patience``: evaluations without an
    improvement of the val loss by more than ``early_stopping_min_delta`` before stopping.
    ``amp``: mixed precision on CUDA (``amp_dtype``; float16 uses a gradient scaler); ignored on CPU;
    refused for models that cannot run under ``torch.autocast`` (the e3nn models).
    ``compile``: ``torch.compile`` the training step's model in this mode (``"off"``, ``"default"``,
    ``"reduce-overhead"``: CUDA graphs, for batches of one shape); evaluation stays eager.
    Training aids (docs/design.md section 11; all off by default; training windows only): ``rollout_steps`` k > 1
    adds the error of the model's own k autoregressive steps (``train.loss``); ``time_reversal``
    adds the time reversal of every training window; ``input_position_noise`` (Å) and
    ``input_velocity_noise`` (Å/fs) perturb the input states (``data.windows.augmented``).
    """

    seed: int = 0
    epochs: int | None = 10
    max_steps: int | None = None
    batch_size: int = 32
    val_batch_size: int | None = None
    drop_last: bool = False
    lr: float = 1e-3
    weight_decay: float = 0.0
    schedule: Literal["cosine", "plateau", "constant"] = "cosine"
    warmup_steps: int = 0
    min_lr: float = 0.0
    plateau_factor: float = 0.5
    plateau_patience: int = 3
    grad_clip: float | None = 10.0
    amp: bool = False
    amp_dtype: Literal["bfloat16", "float16"] = "bfloat16"
    compile: Literal["off", "default", "reduce-overhead"] = "off"
    early_stopping_patience: int | None = None
    early_stopping_min_delta: float = 0.0
    loss_weights: LossWeights = field(default_factory=LossWeights)
    eval_every: int | None = None
    checkpoint_every: int | None = None
    log_every: int = 10
    num_workers: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    find_unused_parameters: bool = False
    progress: bool = True
    # training aids (docs/design.md section 11)
    rollout_steps: int = 1
    time_reversal: bool = False
    input_position_noise: float = 0.0
    input_velocity_noise: float = 0.0

    def __post_init__(self):
        coerce_fields(self, "train")
        _require(self.epochs is not None or self.max_steps is not None, "train.epochs", "or train.max_steps must be set", None)
        for name in ("epochs", "max_steps", "batch_size", "val_batch_size", "eval_every", "checkpoint_every",
                     "log_every", "early_stopping_patience", "plateau_patience"):
            value = getattr(self, name)
            _require(value is None or value >= 1, f"train.{name}", "must be >= 1", value)
        _require(self.rollout_steps >= 1, "train.rollout_steps", "must be >= 1", self.rollout_steps)
        for name in ("input_position_noise", "input_velocity_noise"):
            _require(getattr(self, name) >= 0, f"train.{name}", "must be >= 0", getattr(self, name))
        for name in ("warmup_steps", "num_workers"):
            _require(getattr(self, name) >= 0, f"train.{name}", "must be >= 0", getattr(self, name))
        _require(self.lr > 0, "train.lr", "must be > 0", self.lr)
        _require(0 <= self.min_lr <= self.lr, "train.min_lr", "must be between 0 and train.lr", self.min_lr)
        _require(self.weight_decay >= 0, "train.weight_decay", "must be >= 0", self.weight_decay)
        _require(0 < self.plateau_factor < 1, "train.plateau_factor", "must be between 0 and 1", self.plateau_factor)
        _require(self.grad_clip is None or self.grad_clip > 0, "train.grad_clip", "must be > 0 or null", self.grad_clip)
        _require(self.early_stopping_min_delta >= 0, "train.early_stopping_min_delta", "must be >= 0",
                 self.early_stopping_min_delta)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass
class Recipe:
    """A resolved recipe: ``data`` and ``model`` mappings (or schema instances), ``train``, ``tailoring``."""

    data: Any = field(default_factory=dict)
    model: Any = field(default_factory=dict)
    train: TrainConfig = field(default_factory=TrainConfig)
    tailoring: Any = None

    def to_dict(self) -> dict:
        """Plain types only (what ``config.yaml`` holds; ``recipe_from_dict`` reads it back)."""
        return {name: _plain(getattr(self, name)) for name in SECTIONS}


def load_recipe(
    path: str | os.PathLike,
    overrides: Sequence[str] = (),
    *,
    schemas: Mapping[str, type] | None = None,
) -> Recipe:
    """Read a recipe file, apply ``section.key=value`` overrides, and check it.

    ``schemas`` maps more sections to the dataclass that checks them, e.g. ``{"data": DataOptions}``
    (``train`` is always ``TrainConfig``). Raises ``ConfigError`` naming the file, key or override.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as err:
        raise ConfigError(f"cannot read recipe {path}: {err.strerror or err}") from err
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ConfigError(f"recipe {path} is not valid YAML: {err}") from err
    try:
        return recipe_from_dict({} if raw is None else raw, overrides, schemas=schemas)
    except ConfigError as err:
        raise ConfigError(f"recipe {path}: {err}") from err


def recipe_from_dict(
    raw: Mapping[str, Any], overrides: Sequence[str] = (), *, schemas: Mapping[str, type] | None = None
) -> Recipe:
    """A ``Recipe`` from a mapping (a parsed YAML file); overrides and checks as in ``load_recipe``."""
    schemas = _schemas(schemas)
    if not isinstance(raw, Mapping):
        raise ConfigError(f"a recipe must be a mapping with sections {', '.join(SECTIONS)}, got {type(raw).__name__}")
    raw = copy.deepcopy(dict(raw))
    for section in raw:
        if section not in SECTIONS:
            raise ConfigError(f"unknown section {section!r}{suggestion(section, SECTIONS)}; sections: {', '.join(SECTIONS)}")
    for text in overrides:
        apply_override(raw, text, schemas)
    sections = {}
    for name in SECTIONS:
        value = raw.get(name)
        if name == "tailoring" and value is None:
            sections[name] = None  # no section: no tailoring, whatever the schema
        elif name in schemas:
            sections[name] = from_mapping(schemas[name], {} if value is None else value, name)
        elif value is None:
            sections[name] = None if name == "tailoring" else {}
        elif isinstance(value, Mapping):
            sections[name] = dict(value)
        else:
            raise ConfigError(f"section {name!r} must be a mapping, got {type(value).__name__} {value!r}")
    return Recipe(**sections)


def apply_override(raw: dict, text: str, schemas: Mapping[str, type] | None = None) -> None:
    """Set ``section.key[.subkey]=value`` in ``raw`` in place; the value is a YAML scalar.

    In a section with a schema the key must exist and the value must have its type.
    """
    schemas = _schemas(schemas)
    if not isinstance(text, str) or "=" not in text:
        raise ConfigError(f"override {text!r} must look like section.key=value, e.g. train.lr=1e-3")
    dotted, value_text = (part.strip() for part in text.split("=", 1))
    path = dotted.split(".")
    if len(path) < 2 or not all(path):
        raise ConfigError(f"override {text!r}: the key must be section.key (sections: {', '.join(SECTIONS)})")
    if path[0] not in SECTIONS:
        raise ConfigError(f"override {text!r}: unknown section {path[0]!r}; sections: {', '.join(SECTIONS)}")
    try:
        value = yaml.safe_load(value_text) if value_text else None
    except yaml.YAMLError as err:
        raise ConfigError(f"override {text!r}: the value is not a YAML scalar ({err})") from err
    if path[0] in schemas:
        value = _checked_against_schema(schemas[path[0]], path, value, text)
    node = raw
    for i, key in enumerate(path[:-1]):
        child = node.get(key)
        if child is None:
            child = node[key] = {}
        if not isinstance(child, dict):
            raise ConfigError(f"override {text!r}: {'.'.join(path[: i + 1])} is {child!r}, not a mapping")
        node = child
    node[path[-1]] = value


def save_recipe(recipe: Recipe, path: str | os.PathLike) -> Path:
    """Write ``recipe`` as YAML (atomically); ``load_recipe`` reads it back unchanged."""
    text = yaml.safe_dump(recipe.to_dict(), sort_keys=False, default_flow_style=False)
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text))


def _checked_against_schema(schema: type, path: list[str], value, text: str):
    """``value`` coerced to the annotation at ``path`` (``train.loss_weights.vel``) of ``schema``."""
    annotation = schema
    for i, key in enumerate(path[1:], start=1):
        if not dataclasses.is_dataclass(annotation):
            raise ConfigError(f"override {text!r}: {'.'.join(path[:i])} has no sub-keys")
        names = [f.name for f in dataclasses.fields(annotation) if f.init]
        if key not in names:
            raise ConfigError(
                f"override {text!r}: unknown key {'.'.join(path[: i + 1])}{suggestion(key, names)}; "
                f"valid keys: {', '.join(names)}"
            )
        annotation = _field_type(annotation, key)
    try:
        return _plain(coerce(value, annotation, ".".join(path)))
    except ConfigError as err:
        raise ConfigError(f"override {text!r}: {err}") from err


def _field_type(cls: type, name: str):
    return typing.get_type_hints(cls)[name]


def _schemas(schemas: Mapping[str, type] | None) -> dict[str, type]:
    merged = {"train": TrainConfig, **(schemas or {})}
    for name, schema in merged.items():
        if name not in SECTIONS:
            raise ConfigError(f"schema for unknown section {name!r}; sections: {', '.join(SECTIONS)}")
        if not dataclasses.is_dataclass(schema):
            raise ConfigError(f"schema for section {name!r} must be a dataclass, got {schema!r}")
    return merged


def _plain(value):
    """Dataclasses, tuples and mappings as the dicts and lists ``yaml.safe_dump`` writes."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _plain(dataclasses.asdict(value))
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def _require(condition: bool, key: str, rule: str, value) -> None:
    if not condition:
        raise ConfigError(f"{key} {rule}, got {value!r}")
