"""``chemnoether train RECIPE -o RUN_DIR [--set train.lr=1e-3 ...]``: a recipe from the command line.

The recipe's ``data:`` section is ``DataOptions`` (a trajectory and its split), ``model:`` is
``kind`` plus the keywords of ``chemnoether.models.build_model``, ``train:`` is ``TrainConfig``;
an optional ``tailoring:`` section (``chemnoether.noether.recipe.TailoringSection``) wraps the
model in a ``NoetherTailoredModel`` and so meta-trains it.
Under ``torchrun --nproc_per_node N -m chemnoether.cli train ...`` it trains data-parallel.
``add_train_parser(subparsers)`` adds the command to the ``chemnoether`` parser.
"""

from __future__ import annotations

import argparse
import inspect
import shlex
from pathlib import Path

import yaml

from chemnoether._cli_checks import check_output_folder, interrupted_exit
from chemnoether.core.registry import BUILDERS, model_kinds
from chemnoether.core.typecheck import suggestion
from chemnoether.data.windows import augmented
from chemnoether.errors import ConfigError
from chemnoether.train import fit, load_recipe, seed_everything
from chemnoether.train._runtime import RESUME_OPTIONS
from chemnoether.train.checkpoint import default_builder
from chemnoether.train.loss import training_loss
from chemnoether.train.recipe_data import DataOptions, check_data_plan, windows_from_options


def add_train_parser(subparsers) -> argparse.ArgumentParser:
    """Add ``train`` to ``subparsers`` (what ``ArgumentParser.add_subparsers`` returned)."""
    train = subparsers.add_parser(
        "train",
        help="train a model from a YAML recipe (data, model, train sections)",
        description=(
            "Read the recipe, apply --set overrides, check every option, then train into RUN_DIR "
            "(config.yaml, metrics.csv, last.pt, best.pt). Run the same command again to resume."
        ),
    )
    train.add_argument("recipe", help="YAML recipe with data:, model: and train: sections")
    train.add_argument("-o", "--run-dir", required=True, help="run directory (created; resumed if it holds last.pt)")
    train.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="override a recipe value, e.g. --set train.lr=1e-3 --set model.channels=64 (repeatable)",
    )
    train.add_argument("--resume", choices=RESUME_OPTIONS, default="auto",
                       help="auto: resume if RUN_DIR has last.pt; never: refuse an existing RUN_DIR; must: require it")
    train.add_argument("--check", action="store_true", help="check the recipe, print it resolved, and stop")
    train.set_defaults(run=train_command)
    return train


def train_command(args: argparse.Namespace, builder=None) -> int:
    """Run ``chemnoether train``; ``builder`` replaces ``chemnoether.models.build_model``.

    Everything ``--check`` checks (the run directory, the recipe, the model built with stand-ins
    for what the data decides, the data plan) is checked again first by the run itself.
    """
    from chemnoether.noether.recipe import TailoringSection, tailored  # lazy: keeps e3nn out of `chemnoether --help`

    check_output_folder(args.run_dir, "-o")
    recipe = load_recipe(args.recipe, args.overrides, schemas={"data": DataOptions, "tailoring": TailoringSection})
    kind, model_options = _model_section(recipe, args.recipe, builder)
    plan = check_data_plan(recipe.data)
    try:  # built before any data exists, for --check and the run alike: a bad option fails in seconds
        stand_in = _stand_in_model(kind, model_options, plan, builder)
    except ConfigError as err:
        raise ConfigError(f"recipe {args.recipe}: model: {err}") from err
    if recipe.tailoring is not None and (plan.smiles is not None or recipe.tailoring.g != "energy"):
        # (an energy g of a trajectory file needs the SMILES in the file: known only once it is read)
        stand_in = tailored(stand_in, recipe.tailoring, plan.smiles)
    if args.check:
        print(yaml.safe_dump(recipe.to_dict(), sort_keys=False), end="")
        n_parameters = sum(p.numel() for p in stand_in.parameters())
        print(f"# checked: model {kind!r} builds ({n_parameters} parameters with stand-in elements and scales); "
              f"data: {plan.description}")
        return 0
    splits = windows_from_options(recipe.data, progress=recipe.train.progress)
    if builder is None:
        from chemnoether.models.from_data import complete_model_options  # lazy: keeps e3nn out of `chemnoether --help`

        model_options = complete_model_options(kind, model_options, splits.train)
    seed_everything(recipe.train.seed)  # the same initial weights for the same recipe
    model = (builder or default_builder())(kind, **model_options)
    if recipe.tailoring is not None:
        model = tailored(model, recipe.tailoring, splits.train.trajectory.metadata.get("smiles"))
        if recipe.tailoring.pretrain_steps and not (Path(args.run_dir) / "last.pt").exists():
            # a resumed run takes g from its checkpoint instead
            _pretrain_g(model, recipe.tailoring, splits.train, recipe.train)
    train_windows = _with_training_aids(splits.train, recipe.train)
    result = fit(model, train_windows, splits.val, recipe, args.run_dir, resume=args.resume,
                 loss_fn=training_loss(model, recipe.train))
    if result.stop_signal is not None:
        return interrupted_exit(
            "train", result.stop_signal, f"saved {result.last_checkpoint} at step {result.step}; resume with: {_resume_command(args)}"
        )
    best = "none" if result.best_val_loss is None else f"{result.best_val_loss:.6g} at step {result.best_step}"
    rate = f" ({result.molecules_per_s:.0f} molecules/s)" if result.molecules_per_s >= 0.5 else ""
    print(f"{result.stopped} after {result.step} steps{rate}; best val loss {best}; run directory {result.run_dir}")
    return 0


def _model_section(recipe, recipe_path, builder) -> tuple[str, dict]:
    """``model.kind`` and the other ``model:`` keys, each a keyword of that kind's builder."""
    options = dict(recipe.model)
    kind = options.pop("kind", None)
    if not isinstance(kind, str):
        raise ConfigError(f"recipe {recipe_path}: model.kind must name the model to build, got {kind!r}")
    if builder is not None:
        return kind, options  # a builder of one's own checks its options itself

    default_builder()  # every shipped kind registered
    kinds = model_kinds()
    if kind not in BUILDERS:
        raise ConfigError(f"recipe {recipe_path}: model.kind {kind!r}{suggestion(kind, kinds)} is not one of {list(kinds)}")
    accepted = list(inspect.signature(BUILDERS[kind]).parameters)
    for key in options:
        if key not in accepted:
            raise ConfigError(
                f"recipe {recipe_path}: model.{key} is not an option of model kind {kind!r}{suggestion(key, accepted)}; "
                f"its options: {', '.join(accepted)}"
            )
    return kind, options


def _stand_in_model(kind: str, options: dict, plan, builder):
    """The model with the data's part (elements; the statistics keep their defaults) stood in for."""
    stand_in = dict(options)
    if builder is None and "elements" not in stand_in:
        default_builder()  # every shipped kind registered
        if "elements" in inspect.signature(BUILDERS[kind]).parameters:
            stand_in["elements"] = plan.elements or [1, 6, 7, 8]
    return (builder or default_builder())(kind, **stand_in)


def _resume_command(args: argparse.Namespace) -> str:
    words = ["chemnoether", "train", args.recipe, "-o", args.run_dir]
    for override in args.overrides:
        words += ["--set", override]
    return shlex.join(words)


def _pretrain_g(model, section, train_windows, train_config) -> None:
    from chemnoether.noether.pretrain import pretrain_embedding  # lazy: keeps e3nn out of `chemnoether --help`

    model.g.requires_grad_(True)  # pre-training trains g even when meta-training will keep it fixed
    losses = pretrain_embedding(
        model.g, train_windows, section.pretrain_steps, batch_size=train_config.batch_size,
        position_noise=section.pretrain_position_noise, velocity_noise=section.pretrain_velocity_noise,
        seed=train_config.seed, progress=train_config.progress,
    )
    model.g.requires_grad_(section.train_g)
    print(f"pre-trained g for {len(losses)} steps: conservation contrast {losses[0]:.3g} -> {losses[-1]:.3g}")


def _with_training_aids(windows, config):
    """The training windows with the ``train:`` section's aids (time reversal, noise, rollout targets)."""
    if not (config.time_reversal or config.input_position_noise or config.input_velocity_noise or config.rollout_steps > 1):
        return windows
    return augmented(
        windows, time_reversal=config.time_reversal, position_noise=config.input_position_noise,
        velocity_noise=config.input_velocity_noise, horizon=max(config.rollout_steps, windows.horizon), seed=config.seed,
    )
