"""``run_learned_md``: learned MD of many replicas from a start, streamed to a resumable folder.

    result = run_learned_md("runs/ethanol", "test:0", steps=2000, out="md/ethanol", replicas=8,
                            ensemble="nvt", temperature_K=300)

Frames go to ``out`` every ``save_every`` steps in chunks of ``chunk_frames`` frames
(``chemnoether.learned_md.output``); started again with the same settings, a run continues from its last
chunk and gives the trajectory an uninterrupted run gives (the thermostat's RNG state is saved with
each chunk), and a larger ``steps`` extends it. A tqdm bar shows the simulated time and the
throughput in simulated ps per day over all running replicas.
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from chemnoether.errors import ConfigError
from chemnoether.learned_md.output import ChunkedOutput, FrameBlock
from chemnoether.learned_md.session import LearnedMDSession, open_learned_md, prepare_starts

SECONDS_PER_DAY = 86400.0


@dataclass
class LearnedMDResult:
    """What a call did: where the files are, how far the replicas got, how fast."""

    folder: Path
    steps: int  # the step the run stands at (all replicas share it)
    n_replicas: int
    stopped: list[dict]  # {"replica", "step", "reason"} per stopped replica
    wall_s: float  # this call's stepping time
    simulated_ps: float  # simulated by this call, summed over replicas, while they ran
    dt_fs: float

    @property
    def ps_per_day(self) -> float:
        return self.simulated_ps / self.wall_s * SECONDS_PER_DAY if self.wall_s > 0 else float("nan")

    @property
    def n_physical(self) -> int:
        return self.n_replicas - len(self.stopped)


def run_learned_md(
    run_dir: str | os.PathLike,
    start,
    steps: int,
    out: str | os.PathLike,
    *,
    replicas: int = 1,
    ensemble: str = "nve",
    thermostat: str = "langevin",
    temperature_K: float | None = None,
    friction_per_fs: float = 0.01,
    tau_fs: float = 100.0,
    potential="auto",
    rescale: bool | str = False,
    tailor=None,
    seed: int = 0,
    save_every: int = 1,
    chunk_frames: int = 100,
    format: str = "extxyz",  # noqa: A002 - ase.io's name
    which: str = "best",
    device: str = "cpu",
    resume: bool = True,
    progress: bool = True,
    session: LearnedMDSession | None = None,
) -> LearnedMDResult:
    """Run ``steps`` learned steps (in all) of ``replicas`` replicas from ``start``; write ``out``.

    Options as ``open_learned_md`` (ensemble, thermostat, potential, rescale, tailor, seed) and
    ``starts.resolve_start`` (start, replicas, temperature_K); ``steps`` must be a multiple of
    ``save_every``. ``session``: an ``open_learned_md`` result to reuse (its options win).
    """
    for name, value, minimum in (("steps", steps, 1), ("save_every", save_every, 1), ("chunk_frames", chunk_frames, 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
            raise ConfigError(f"{name}={value!r} must be a whole number >= {minimum}")
    if steps % save_every:
        raise ConfigError(f"steps={steps} is not a multiple of save_every={save_every}: the last state must be saved to resume")
    if session is None:
        session = open_learned_md(
            run_dir, ensemble=ensemble, thermostat=thermostat, temperature_K=temperature_K,
            friction_per_fs=friction_per_fs, tau_fs=tau_fs, potential=potential, rescale=rescale, tailor=tailor,
            seed=seed, which=which, device=device,
        )
    engine = session.engine
    settings = {**session.settings, "start": _start_label(start), "replicas": int(replicas), "start_temperature_K": temperature_K,
                "save_every": int(save_every), "chunk_frames": int(chunk_frames), "format": format}
    output = ChunkedOutput(out, settings, numbers=session.atomic_numbers, masses=engine.masses, dt_fs=engine.dt_fs,
                           n_replicas=replicas, format=format)
    output.open(resume)
    block = FrameBlock.empty()
    if output.n_chunks:
        state = _resumed(session, output)
    else:
        positions, velocities, _ = prepare_starts(session, start, replicas=replicas, temperature_K=temperature_K, seed=seed)
        state = engine.start(positions, velocities)
        block.record(state)
    began, simulated_steps = time.perf_counter(), 0
    bar = tqdm(total=steps, initial=min(state.step, steps), unit="step", desc="learned MD", disable=not progress)
    try:
        while state.step < steps and state.alive.any():
            running = int(state.alive.sum())
            engine.step(state)
            simulated_steps += running
            if state.step % save_every == 0:
                block.record(state)
            if len(block) >= chunk_frames or (len(block) and (state.step >= steps or not state.alive.any())):
                if block.steps[-1] != state.step:  # every replica stopped between saves: keep the end
                    block.record(state)
                output.append(block, _resume_record(state, engine))
                output.write_status(_status_rows(state, steps))
                block = FrameBlock.empty()
            bar.update(1)
            elapsed = time.perf_counter() - began
            if elapsed > 0:
                bar.set_postfix(
                    t=f"{state.step * engine.dt_fs / 1000:.3f} ps", alive=int(state.alive.sum()),
                    ps_day=f"{simulated_steps * engine.dt_fs / 1000 / elapsed * SECONDS_PER_DAY:.3g}", refresh=False,
                )
        if len(block):  # a resumed run that had nothing left to do, or steps reached with no new frame
            output.append(block, _resume_record(state, engine))
        output.write_status(_status_rows(state, steps))
    finally:
        bar.close()
    return LearnedMDResult(
        folder=output.folder, steps=state.step, n_replicas=replicas, stopped=list(state.stopped),
        wall_s=time.perf_counter() - began, simulated_ps=simulated_steps * engine.dt_fs / 1000, dt_fs=engine.dt_fs,
    )


def _start_label(start) -> str:
    """What the manifest records of the start: the text given, or a digest of an ``Atoms``."""
    if isinstance(start, (str, os.PathLike)):
        return str(start)
    digest = hashlib.sha1(np.asarray(start.get_positions(), dtype=np.float64).tobytes())
    digest.update(np.asarray(start.get_atomic_numbers(), dtype=np.int64).tobytes())
    if start.has("momenta"):
        digest.update(np.asarray(start.get_momenta(), dtype=np.float64).tobytes())
    return f"atoms sha1 {digest.hexdigest()[:16]}"


def _resume_record(state, engine) -> dict:
    return {"step": int(state.step), "rng_state": engine.rng.bit_generator.state, "stopped": state.stopped}


def _resumed(session: LearnedMDSession, output: ChunkedOutput):
    """The state after the last chunk: its last frame, the saved RNG state and stops, the start's references."""
    engine = session.engine
    first, last = output.load_chunk(0), output.load_chunk(output.n_chunks - 1)
    record = output.resume_state
    state = engine.start(first["positions"][0], first["velocities"][0])  # bond and g references of the start
    state.positions, state.velocities = last["positions"][-1].copy(), last["velocities"][-1].copy()
    state.alive = last["alive"][-1].copy()
    state.potential_energy, state.alpha = last["potential_energy"][-1].copy(), last["alpha"][-1].copy()
    state.energy_reference = last["energy_reference"][-1].copy()
    state.step = int(record["step"])
    state.stopped = list(record["stopped"])
    engine.rng.bit_generator.state = record["rng_state"]
    if int(last["steps"][-1]) != state.step:
        raise ConfigError(f"{output.folder}: the manifest's step {state.step} is not its last chunk's; start afresh with --no-resume")
    return state


def _status_rows(state, steps: int) -> list[dict]:
    stopped = {row["replica"]: row for row in state.stopped}
    rows = []
    for replica in range(state.n_replicas):
        if replica in stopped:
            rows.append({"replica": replica, "status": "stopped", "step": stopped[replica]["step"], "reason": stopped[replica]["reason"]})
        else:
            status = "finished" if state.step >= steps else "running"
            rows.append({"replica": replica, "status": status, "step": state.step, "reason": ""})
    return rows


