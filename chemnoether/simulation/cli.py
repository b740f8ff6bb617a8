"""``chemnoether md generate``: offline MD trajectories from the command line.

``add_generate_parser(md_subparsers)`` adds ``generate`` to the ``md`` command's subparsers
(``chemnoether.cli`` builds ``md`` from it and from ``chemnoether.learned_md.cli``).
"""

from __future__ import annotations

import argparse
import signal
import time

from chemnoether._cli_checks import Terminated, check_output_folder, interrupted_exit, whole_number
from chemnoether.simulation.generate import PLOT_NAME, REPORT_NAME, generate_md
from chemnoether.simulation.report import energy_report, format_report


def _generate_command(args: argparse.Namespace) -> int:
    check_output_folder(args.output, "-o")
    start = time.perf_counter()
    received = []  # the signal is also remembered: its exception can be lost inside a finaliser

    def on_ctrl_c(signum, frame):
        received.append(signum)
        signal.default_int_handler(signum, frame)  # raises KeyboardInterrupt, as without this handler

    try:
        previous = signal.signal(signal.SIGINT, on_ctrl_c)
    except ValueError:  # not the main thread: leave signals alone
        previous = None
    try:
        trajectory = generate_md(args.molecule, args.steps, stop_requested=lambda: bool(received), **_md_options(args))
    except (KeyboardInterrupt, Terminated) as err:
        signum = signal.SIGINT if isinstance(err, KeyboardInterrupt) else signal.SIGTERM
        again = "" if not args.no_resume else " without --no-resume"
        return interrupted_exit(
            "md generate", signum,
            f"the complete chunks stay in {args.output}; run the same command again{again} to continue from the last one",
        )
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    elapsed = time.perf_counter() - start
    print(format_report(energy_report(trajectory)))
    print(f"{trajectory.n_frames} frames in {elapsed:.1f} s; chunks and manifest in {args.output}")
    print(f"report: {args.output}/{REPORT_NAME}, plot: {args.output}/{PLOT_NAME} (if matplotlib is installed)")
    return 0


def _md_options(args: argparse.Namespace) -> dict:
    return {
        "dt_fs": args.dt,
        "temperature_K": args.temperature,
        "thermostat": args.thermostat,
        "friction_per_fs": args.friction,
        "potential": args.potential,
        "seed": args.seed,
        "save_every": args.save_every,
        "out": args.output,
        "chunk_frames": args.chunk_frames,
        "resume": not args.no_resume,
        "progress": not args.quiet,
        "equilibration_steps": args.equilibration_steps,
    }


def add_generate_parser(md_commands) -> argparse.ArgumentParser:
    """Add ``generate`` to ``md_commands`` (what the ``md`` parser's ``add_subparsers`` returned)."""
    gen = md_commands.add_parser(
        "generate",
        help="run MD of a molecule (MMFF94 or GFN2-xTB) and write chunked trajectory files",
        description=(
            "Embed the molecule, minimise it, equilibrate with Langevin at the temperature, then run the "
            "production MD. Frames go to OUTPUT in chunks with a manifest; an interrupted run continues "
            "from its last chunk when started again with the same options."
        ),
    )
    gen.add_argument("molecule", help="a name (ethanol, aspirin, ... see chemnoether.data.molecules) or a SMILES")
    gen.add_argument("--steps", type=whole_number(0), required=True, help="production MD steps")
    gen.add_argument("-o", "--output", required=True, help="output folder (chunks, manifest.json, energy report)")
    gen.add_argument("--dt", type=float, default=0.5, help="time step in fs (default 0.5)")
    gen.add_argument("--temperature", type=float, default=300.0, help="temperature in K (default 300)")
    gen.add_argument("--thermostat", choices=["nve", "langevin"], default="nve", help="production ensemble (default nve)")
    gen.add_argument("--friction", type=float, default=0.01, help="Langevin friction in 1/fs (default 0.01)")
    gen.add_argument("--potential", choices=["mmff", "gfn2"], default="mmff", help="mmff: RDKit MMFF94; gfn2: GFN2-xTB (pip install tblite)")
    gen.add_argument("--seed", type=whole_number(0), default=0, help="seed of the conformer, velocities and thermostat noise")
    gen.add_argument("--save-every", type=whole_number(1), default=1, help="keep a frame every this many steps (default 1)")
    gen.add_argument("--equilibration-steps", type=whole_number(0), default=2000, help="Langevin steps before frame 0 (default 2000)")
    gen.add_argument("--chunk-frames", type=whole_number(1), default=5000, help="frames per chunk file (default 5000)")
    gen.add_argument("--no-resume", action="store_true", help="overwrite a run already in OUTPUT instead of continuing it")
    gen.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    gen.set_defaults(run=_generate_command)
    return gen
