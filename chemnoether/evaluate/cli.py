"""``chemnoether evaluate RUN_DIR`` and ``chemnoether rollout RUN_DIR --steps N``: a trained run, scored.

``add_evaluate_parsers(subparsers)`` adds both commands to the ``chemnoether`` parser; the work
is imported only when a command runs, so ``chemnoether --help`` stays fast.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from chemnoether._cli_checks import check_ase_format, check_output_file, check_output_folder, positive_number, whole_number
from chemnoether._memory import require_rollout_memory
from chemnoether.evaluate.report import evaluate_run, metrics_table, rollout_run
from chemnoether.evaluate.tailoring import TestTimeTailoring

EVAL_DIR = "eval"  # as chemnoether.evaluate.report, which is imported only when a command runs
SPLIT_CHOICES = ("test", "val", "train")
DEVICE_CHOICES = ("cpu", "cuda", "auto")
TEST_TIME_G_CHOICES = ("linear_momentum", "angular_momentum", "energy", "learned", "anchored", "learned_energy")
_positive_int = whole_number(1)  # --steps 0 and -1 get the same message
_non_negative_int = whole_number(0)
_positive_float = positive_number


def add_evaluate_parsers(subparsers) -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    """Add ``evaluate`` and ``rollout`` to ``subparsers`` (what ``add_subparsers`` returned)."""
    evaluate = subparsers.add_parser(
        "evaluate",
        help="score a training run: single jumps, rollouts, momentum and energy drift",
        description=(
            "Reload the run's model and recipe, rebuild its windows, score single jumps on a split "
            "beside constant velocity, roll the model out, and write RUN_DIR/eval/ (metrics.json, "
            "metrics.csv, rollout.csv, windows.csv, PNG plots)."
        ),
    )
    evaluate.add_argument("run_dir", help="run directory of `chemnoether train` (config.yaml, best.pt / last.pt)")
    _add_run_options(evaluate)
    evaluate.add_argument("--rollout-steps", type=_positive_int, default=None, metavar="N",
                          help="model steps per rollout (default: as many as the trajectory allows, at most 50)")
    evaluate.add_argument("--rollouts", type=_positive_int, default=8, metavar="K", help="rollout start frames (default 8)")
    evaluate.add_argument("--max-windows", type=_positive_int, default=None, metavar="N",
                          help="score at most N windows of the split, evenly spread (default: all)")
    evaluate.add_argument("--tailor-g", choices=TEST_TIME_G_CHOICES, default=None,
                          help="also tailor the model at test time with this g: an oracle (energy: MMFF94 + kinetic), "
                               "'learned' (pre-trained on the run's training windows), 'anchored' (kinetic + a potential learned "
                               "without energy labels: RUN_DIR/anchored_g.pt of `chemnoether md fit-g`, else a quick fit), or "
                               "'learned_energy' (kinetic + the model's energy head)")
    evaluate.add_argument("--tailor-steps", type=_positive_int, default=None, metavar="K",
                          help="inner steps of the test-time tailoring (default: the run's, else 1)")
    evaluate.add_argument("--tailor-lr", type=_positive_float, default=None, metavar="LR",
                          help="inner learning rate of the test-time tailoring (default: the run's, else 0.01)")
    evaluate.add_argument("--tailor-optimizer", choices=("sgd", "adam"), default=None,
                          help="inner optimiser of the test-time tailoring (default: the run's, else sgd)")
    evaluate.add_argument("--tailor-blocks", type=_positive_int, default=None, metavar="B",
                          help="test-time tailoring of the last B interaction blocks only (default: the run's, else all)")
    evaluate.set_defaults(run=evaluate_command)

    rollout = subparsers.add_parser(
        "rollout",
        help="roll a trained model out from one window and write the trajectory (extxyz)",
        description=(
            "Write the start frame and every predicted frame, with velocities and the time step, for ASE and viewers."
        ),
    )
    rollout.add_argument("run_dir", help="run directory of `chemnoether train`")
    rollout.add_argument("--steps", type=_positive_int, required=True, metavar="N", help="model steps to roll out")
    rollout.add_argument("--start", type=_non_negative_int, default=0, metavar="K",
                         help="window of the split to start from (default 0)")
    rollout.add_argument("-o", "--out", default=None, metavar="OUT",
                         help="file to write (default RUN_DIR/eval/rollout_<split><start>_<N>steps.extxyz)")
    rollout.add_argument("--format", default="extxyz", help="ase.io format of the file (default extxyz)")
    _add_run_options(rollout)
    rollout.set_defaults(run=rollout_command)
    return evaluate, rollout


def evaluate_command(args: argparse.Namespace) -> int:
    """Run ``chemnoether evaluate``: print the headline numbers and where the files went."""
    check_output_folder(Path(args.run_dir) / EVAL_DIR, "RUN_DIR/eval (where the results go)")
    test_time = None
    if args.tailor_g is not None:
        test_time = TestTimeTailoring(
            args.tailor_g, args.tailor_steps, args.tailor_lr, args.tailor_optimizer, args.tailor_blocks
        )
    metrics = evaluate_run(
        args.run_dir, which=args.which, split=args.split, rollout_steps=args.rollout_steps,
        n_rollouts=args.rollouts, device=args.device, max_windows=args.max_windows, test_time=test_time,
    )
    single, roll = metrics["single_step"], metrics["rollout"]
    print(
        f"{metrics['model_kind']} from {metrics['checkpoint']}: {single['n_windows']} {metrics['split']} windows "
        f"of {metrics['step_fs']:g} fs; {roll['n_rollouts']} rollouts of {roll['steps']} steps"
    )
    table = metrics_table(metrics)
    print(table.to_string(index=False, float_format=lambda value: f"{value:.4g}"))
    if not roll["energy"]["available"]:
        print(f"energy: not evaluated: {roll['energy']['reason']}")
    if "tailoring" in metrics:
        comparison = pd.DataFrame(metrics["tailoring"]["variants"]).set_index("variant")
        print("with and without tailoring (ratios to untailored):")
        print(comparison.to_string(float_format=lambda value: f"{value:.4g}"))
    for name, reason in metrics["skipped_files"].items():
        print(f"{name}: not written: {reason}")
    folder = Path(metrics["files"]["metrics_json"]).parent
    print(f"wrote {', '.join(Path(path).name for path in metrics['files'].values())} to {folder}")
    return 0


def rollout_command(args: argparse.Namespace) -> int:
    """Run ``chemnoether rollout``: write the trajectory and say where."""
    check_ase_format(args.format)
    if args.out is not None:
        check_output_file(args.out, "-o")
    else:
        check_output_folder(Path(args.run_dir) / EVAL_DIR, "RUN_DIR/eval (the default output folder)")
    # a first bound for one atom, before the run's data is rebuilt; the rollout checks its real size
    require_rollout_memory(args.steps, n_atoms=1, option="--steps")
    path = rollout_run(
        args.run_dir, args.steps, start=args.start, split=args.split, out=args.out,
        format=args.format, which=args.which, device=args.device,
    )
    # a rollout that blows up is cut short, with a warning naming the step
    print(f"wrote a rollout of up to {args.steps} steps from {args.split} window {args.start} to {path}")
    return 0


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--which", choices=("best", "last"), default="best", help="checkpoint: best.pt (default) or last.pt")
    parser.add_argument("--split", choices=SPLIT_CHOICES, default="test", help="windows of the run's recipe (default test)")
    parser.add_argument("--device", choices=DEVICE_CHOICES, default="cpu", help="where the model runs (default cpu)")
