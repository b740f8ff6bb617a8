"""``chemnoether md run`` and ``md fit-g``: learned MD of a trained run from the command line.

``add_run_parser(md_subparsers)`` adds ``run`` and ``fit-g`` to the ``md`` command's subparsers (``chemnoether.cli``
builds ``md`` from it and ``chemnoether.simulation.cli``); the work is imported only when the command
runs, so ``chemnoether --help`` stays fast.
"""

from __future__ import annotations

import argparse

# the argument types every command uses: one definition of what a count or a rate may be
from chemnoether._cli_checks import positive_number as _positive_float
from chemnoether._cli_checks import whole_number
from chemnoether.errors import ConfigError

_positive_int = whole_number(1)
_non_negative_int = whole_number(0)

# evaluate.tailoring.TEST_TIME_GS, spelled out so that parsing does not import the tailoring stack
TAILOR_CHOICES = ("linear_momentum", "angular_momentum", "energy", "learned", "anchored", "learned_energy")


def add_run_parser(md_subparsers) -> argparse.ArgumentParser:
    """Add ``run`` to ``md_subparsers``; the parsed namespace runs with ``args.run(args)``."""
    parser = md_subparsers.add_parser(
        "run",
        help="run learned MD: a trained model advances replicas (NVE or NVT), written in resumable chunks",
        description=(
            "Advance replicas of the run's molecule with its trained model, NVE or NVT (Langevin or CSVR half steps "
            "around each learned step), optionally with FlashMD energy rescaling against MMFF94 and Noether tailoring. "
            "OUT gets one trajectory per replica, log.csv (energy, temperature, alpha), status.csv and lossless chunks; "
            "started again with the same options, a run continues from its last chunk."
        ),
    )
    parser.add_argument("run_dir", help="run directory of `chemnoether train` (config.yaml, best.pt / last.pt)")
    parser.add_argument("--start", required=True, metavar="FILE|SMILES|test:K",
                        help="a structure file (xyz, extxyz, .traj: its last frame), a SMILES of the run's molecule, "
                             "or test:K[:S] (test windows K, K+S, ... of the run, one per replica)")
    parser.add_argument("--steps", type=_positive_int, required=True, metavar="N", help="learned steps in all (a longer N extends a run)")
    parser.add_argument("-o", "--out", required=True, metavar="OUT", help="output folder")
    parser.add_argument("--replicas", type=_positive_int, default=1, metavar="N", help="replicas advanced as one batch (default 1)")
    parser.add_argument("--ensemble", choices=("nve", "nvt"), default="nve", help="default nve")
    parser.add_argument("--thermostat", choices=("langevin", "csvr"), default="langevin", help="NVT half steps (default langevin)")
    parser.add_argument("--temperature", type=_positive_float, default=None, metavar="K",
                        help="NVT target, and the temperature of velocities drawn for starts without them")
    parser.add_argument("--friction", type=_positive_float, default=0.01, metavar="1/fs", help="Langevin friction (default 0.01)")
    parser.add_argument("--tau", type=_positive_float, default=100.0, metavar="FS", help="CSVR relaxation time (default 100)")
    parser.add_argument("--rescale", choices=("mmff", "learned", "anchored", "none"), default="none",
                        help="keep the total energy under this potential after each step: FlashMD velocity "
                             "rescaling, or with --project the energy-shell projection (default none); learned: the "
                             "run's energy head; anchored: the potential of its anchored g (no energy labels, see md fit-g)")
    parser.add_argument("--project", action="store_true",
                        help="with --rescale: where no real alpha exists (the step raised the potential above the "
                             "total), move positions and velocities onto the energy shell instead of stopping the "
                             "replica (chemnoether.learned_md.projection)")
    parser.add_argument("--tailor", choices=TAILOR_CHOICES, default=None,
                        help="tailor every step with this g (chemnoether.noether.tailor; default: the run's own model)")
    parser.add_argument("--tailor-steps", type=_positive_int, default=None, metavar="K", help="inner tailoring steps")
    parser.add_argument("--tailor-lr", type=_positive_float, default=None, metavar="LR", help="inner tailoring learning rate")
    parser.add_argument("--seed", type=_non_negative_int, default=0, help="seed of drawn velocities and thermostat noise")
    parser.add_argument("--save-every", type=_positive_int, default=1, metavar="N", help="save a frame every N steps (default 1)")
    parser.add_argument("--chunk-frames", type=_positive_int, default=100, metavar="N", help="frames per chunk (default 100)")
    parser.add_argument("--format", choices=("extxyz", "traj"), default="extxyz", help="replica trajectory files (default extxyz)")
    parser.add_argument("--which", choices=("best", "last"), default="best", help="checkpoint (default best.pt)")
    parser.add_argument("--device", choices=("cpu", "cuda", "auto"), default="cpu", help="where the model runs (default cpu)")
    parser.add_argument("--no-resume", action="store_true", help="overwrite a run already in OUT instead of continuing it")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(run=run_command)
    add_fit_g_parser(md_subparsers)
    return parser


def add_fit_g_parser(md_subparsers) -> argparse.ArgumentParser:
    """Add ``fit-g``: fit the run's anchored g and save it in the run directory."""
    parser = md_subparsers.add_parser(
        "fit-g",
        help="fit the run's anchored conserved quantity (kinetic + learned potential, no energy labels) for "
             "--tailor anchored and --rescale anchored",
        description=(
            "Fit g = K + V_phi on the run's training windows so that it is conserved along them (no energy or "
            "force labels), and save it as RUN_DIR/anchored_g.pt. Prints the R^2 of V_phi against the reference "
            "potential on the test split when the data carry energies."
        ),
    )
    parser.add_argument("run_dir", help="run directory of `chemnoether train`")
    parser.add_argument("--steps", type=_positive_int, default=None, metavar="N", help="optimiser steps (default 15000)")
    parser.add_argument("--lr", type=_positive_float, default=None, help="peak learning rate (default 0.002)")
    parser.add_argument("--hidden", type=_positive_int, default=None, metavar="H", help="width (default 64)")
    parser.add_argument("--layers", type=_positive_int, default=None, metavar="L", help="message-passing rounds (default 3)")
    parser.add_argument("--anchor", choices=("auto", "window", "trajectory"), default="auto",
                        help="g is conserved across each window, or across the whole trajectory (one NVE run); "
                             "auto: trajectory for generated MD, window for a read file (default auto)")
    parser.add_argument("--device", choices=("cpu", "cuda", "auto"), default="cpu", help="where it is fitted (default cpu)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(run=fit_g_command)
    return parser


def fit_g_command(args: argparse.Namespace) -> int:
    """Run ``chemnoether md fit-g``; print where the g went and its R^2."""
    from chemnoether.evaluate.anchored_g import fit_anchored_g  # lazy: keeps e3nn out of `chemnoether --help`
    from chemnoether.noether.anchored import ANCHORED_G_FILE, save_anchored_g  # lazy: keeps e3nn out of `chemnoether --help`
    from chemnoether.train.run_dir import open_run  # lazy: keeps e3nn out of `chemnoether --help`

    run = open_run(args.run_dir, split="test", device=args.device)
    given = {k: getattr(args, k) for k in ("steps", "lr", "hidden", "layers", "anchor") if getattr(args, k) is not None}
    g, fit = fit_anchored_g(run, progress=not args.quiet, **given)
    path = save_anchored_g(g, run.run_dir / ANCHORED_G_FILE, fit)
    r2 = (f"R^2 of V against the reference potential on {fit['r2_states']} test states: {fit['r2_potential']:.3f} "
          f"(total energy {fit['r2_total']:.3f})") if "r2_potential" in fit else "no energies in the data: R^2 not measured"
    print(f"anchored g ({fit['anchor']} anchor) fitted in {fit['steps']} steps ({fit['seconds']:.0f} s), final loss {fit['final_loss']:.4f}; {r2}")
    print(f"wrote {path}")
    return 0


def _rescale_mode(args: argparse.Namespace) -> bool | str:
    if args.project and args.rescale == "none":
        raise ConfigError("--project needs --rescale mmff|learned|anchored: the potential whose energy shell it projects onto")
    return "project" if args.project else args.rescale != "none"


def run_command(args: argparse.Namespace) -> int:
    """Run ``chemnoether md run``; print where the files went and how the replicas fared."""
    from chemnoether.evaluate.tailoring import TestTimeTailoring  # lazy: keeps e3nn out of `chemnoether --help`
    from chemnoether.learned_md.run import run_learned_md  # lazy: keeps e3nn out of `chemnoether --help`

    tailor = None
    if args.tailor is not None:
        tailor = TestTimeTailoring(args.tailor, steps=args.tailor_steps, lr=args.tailor_lr)
    result = run_learned_md(
        args.run_dir, args.start, args.steps, args.out, replicas=args.replicas, ensemble=args.ensemble,
        thermostat=args.thermostat, temperature_K=args.temperature, friction_per_fs=args.friction, tau_fs=args.tau,
        potential=args.rescale if args.rescale != "none" else "auto", rescale=_rescale_mode(args), tailor=tailor,
        seed=args.seed, save_every=args.save_every, chunk_frames=args.chunk_frames, format=args.format,
        which=args.which, device=args.device, resume=not args.no_resume, progress=not args.quiet,
    )
    print(
        f"{result.n_physical} of {result.n_replicas} replicas ran to step {result.steps} "
        f"({result.steps * result.dt_fs / 1000:.4g} ps at {result.dt_fs:g} fs); this call: {result.simulated_ps:.4g} ps "
        f"simulated over all replicas in {result.wall_s:.1f} s ({result.ps_per_day:.3g} ps/day)"
    )
    for row in result.stopped:
        print(f"replica {row['replica']} stopped at step {row['step']}: {row['reason']}")
    print(f"wrote replica trajectories, log.csv, status.csv and chunks to {result.folder}")
    return 0
