"""Faults a user can hit from the shell: bad inputs, unwritable outputs, Ctrl-C and SIGTERM.

Each case asserts the exit code (2 bad input or usage, 1 failure during work, 130 / 143
interrupted), that the error is one line naming the input and the fix, and that nothing already
written is lost. Bad inputs run in-process (``main``); interrupts run the command in a fresh
interpreter and signal it.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from chemnoether.cli import main
from chemnoether.errors import ChemNoetherError

# a run of seconds: a short ethanol MD, a one-layer model; many epochs so that it is still
# training when the signal comes
TINY_RECIPE = {
    "data": {"molecule": "ethanol", "n_steps": 600, "split": "time_block", "delta": 5},
    "model": {"kind": "equivariant", "elements": [1, 6, 8], "channels": 8, "layers": 1, "edges": "bond"},
    "train": {"epochs": 1000, "batch_size": 16, "progress": False, "device": "cpu", "checkpoint_every": 100000},
}


def one_error_line(stderr: str, command: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith(f"chemnoether {command}: ") and "Traceback" not in stderr
    return lines[0]


def run_main(argv, capsys) -> tuple[int, str]:
    code = main([str(a) for a in argv])
    return code, capsys.readouterr().err


def not_called(*args, **kwargs):
    raise AssertionError("the work started before the output was checked")


# --- featurize ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "is empty"),
        (bytes(range(128, 256)) * 4, "cannot read .* as a text CSV file"),
        (b"smiles\n", "has a header but no rows"),
    ],
    ids=["empty", "binary", "header-only"],
)
def test_featurize_refuses_unreadable_input_in_one_line(tmp_path, capsys, content, expected):
    source = tmp_path / "in.csv"
    source.write_bytes(content)
    code, err = run_main(["featurize", source, "-o", tmp_path / "g.bin", "-q"], capsys)
    assert code == 2
    line = one_error_line(err, "featurize")
    assert str(source) in line and re.search(expected, line)


def bad_output_paths(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    (tmp_path / "a_folder").mkdir()
    (tmp_path / "a_file").write_text("x")
    return {
        "folder": (tmp_path / "a_folder", "is a folder"),
        "under a file": (tmp_path / "a_file" / "sub" / "g.bin", "is a file, so nothing can be created"),
    }


@pytest.mark.parametrize("case", ["folder", "under a file"])
def test_featurize_checks_the_output_before_any_work(tmp_path, capsys, monkeypatch, case):
    monkeypatch.setattr("chemnoether.cli.featurize_dataframe", not_called)  # where the CLI looks it up
    source = tmp_path / "in.csv"
    source.write_text("smiles\nCCO\n")
    out, expected = bad_output_paths(tmp_path)[case]
    code, err = run_main(["featurize", source, "-o", out, "-q"], capsys)
    assert code == 2 and expected in one_error_line(err, "featurize")


@pytest.mark.skipif(not Path("/sys/kernel").is_dir(), reason="needs Linux's /sys")
def test_an_unwritable_folder_is_named(tmp_path, capsys):
    source = tmp_path / "in.csv"
    source.write_text("smiles\nCCO\n")
    code, err = run_main(["featurize", source, "-o", "/sys/kernel/g.bin", "-q"], capsys)
    assert code == 2 and "cannot write in /sys/kernel" in one_error_line(err, "featurize")


def test_smi_status_rows_follow_file_lines(tmp_path, capsys):
    source = tmp_path / "in.smi"
    source.write_text("CCO ethanol\n\nC1CC broken\nc1ccccc1 benzene\n\n")
    out = tmp_path / "g.bin"
    assert main(["featurize", str(source), "-o", str(out), "-q"]) == 0
    status = pd.read_csv(f"{out}.status.csv", keep_default_na=False)
    # line k of the file is status row k - 1; the trailing blank line is no row
    assert status["input"].tolist() == ["CCO", "", "C1CC", "c1ccccc1"]
    assert status["ok"].tolist() == [True, False, False, True]
    assert "0 rows/s" not in capsys.readouterr().out


# --- other commands: outputs and numbers checked before the work ----------------------------


def test_score_reactions_checks_the_output_first(tmp_path, capsys, monkeypatch):
    import chemnoether.reactions.api as api  # noqa: PLC0415

    monkeypatch.setattr(api, "score_reactions", not_called)
    source = tmp_path / "in.csv"
    source.write_text("reaction\nCCO>>CC=O\n")
    out, expected = bad_output_paths(tmp_path)["folder"]
    code, err = run_main(["score-reactions", source, "-o", out, "-q"], capsys)
    assert code == 2 and expected in one_error_line(err, "score-reactions")


def test_md_generate_and_train_check_their_folders_first(tmp_path, capsys):
    (tmp_path / "a_file").write_text("x")
    code, err = run_main(["md", "generate", "ethanol", "--steps", "10", "-o", tmp_path / "a_file", "-q"], capsys)
    assert code == 2 and "is a file, not a folder" in one_error_line(err, "md generate")
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(TINY_RECIPE))
    code, err = run_main(["train", recipe, "-o", tmp_path / "a_file"], capsys)
    assert code == 2 and "is a file, not a folder" in one_error_line(err, "train")


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (["--format", "nosuchformat"], "--format 'nosuchformat' is not a format ase.io can write"),
        (["-o", "{tmp}/a_folder"], "is a folder"),
        (["--steps", str(10**13)], "--steps=10000000000000: .* GiB .* pass --steps \\d+ or fewer"),
    ],
    ids=["format", "folder", "memory"],
)
def test_rollout_refuses_before_opening_the_run(tmp_path, capsys, options, expected):
    bad_output_paths(tmp_path)
    options = [o.replace("{tmp}", str(tmp_path)) for o in options]
    steps = [] if "--steps" in options else ["--steps", "3"]
    # the run directory does not exist: an error about it would mean the checks came too late
    code, err = run_main(["rollout", tmp_path / "no_run", *steps, *options], capsys)
    assert code == 2
    assert re.search(expected, one_error_line(err, "rollout"))


@pytest.mark.parametrize("steps", ["0", "-1"])
def test_rollout_steps_below_one_get_one_message(tmp_path, capsys, steps):
    with pytest.raises(SystemExit) as exit_info:
        main(["rollout", str(tmp_path), "--steps", steps])
    assert exit_info.value.code == 2
    line = one_error_line(capsys.readouterr().err, "rollout")
    assert f"--steps: must be a whole number >= 1, got '{steps}'; see chemnoether rollout --help" in line


def test_rollout_memory_is_checked_with_the_real_atom_count(monkeypatch):
    from chemnoether import _memory  # noqa: PLC0415

    monkeypatch.setattr(_memory, "available_bytes", lambda: 2**30)  # a machine with 1 GiB free
    # 9 atoms: 2 arrays x 9 x 3 x 8 bytes = 432 bytes a frame; half of 1 GiB holds 1,242,756 frames
    _memory.require_rollout_memory(1_242_755, 9)
    with pytest.raises(ChemNoetherError, match=r"n_steps=1242756: 1 rollout\(s\) of 9 atoms .* pass n_steps 1242755 or fewer"):
        _memory.require_rollout_memory(1_242_756, 9)


def write_run_dir(folder: Path) -> Path:
    folder.mkdir()
    config = {**TINY_RECIPE, "train": {**TINY_RECIPE["train"], "epochs": 1}}
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    return folder


def test_evaluate_names_a_damaged_best_pt(tmp_path, capsys):
    run_dir = write_run_dir(tmp_path / "run")
    (run_dir / "best.pt").write_bytes(bytes(range(256)) * 8)
    code, err = run_main(["evaluate", run_dir], capsys)
    assert code == 2
    line = one_error_line(err, "evaluate")
    assert str(run_dir / "best.pt") in line and "not a torch.save file" in line and "--which last" in line


def test_train_names_an_empty_last_pt(tmp_path, capsys):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump({**TINY_RECIPE, "train": {**TINY_RECIPE["train"], "epochs": 1}}))
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "last.pt").write_bytes(b"")
    code, err = run_main(["train", recipe, "-o", run_dir], capsys)
    assert code == 2 and "the file is empty" in one_error_line(err, "train")
    assert (run_dir / "last.pt").read_bytes() == b""  # left for the user to look at


# --- errors in general ------------------------------------------------------------------------


def test_an_unexpected_error_is_one_line_and_exit_1_unless_debug(tmp_path, capsys, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("a library failed")

    monkeypatch.setattr("chemnoether.cli.featurize_dataframe", broken)
    source = tmp_path / "in.csv"
    source.write_text("smiles\nCCO\n")
    code, err = run_main(["featurize", source, "-o", tmp_path / "g.bin"], capsys)
    assert code == 1
    assert "unexpected RuntimeError: a library failed; rerun with --debug" in one_error_line(err, "featurize")
    code, err = run_main(["featurize", source, "-o", tmp_path / "g.bin", "--debug"], capsys)
    assert code == 1 and "Traceback" in err and "a library failed" in err.splitlines()[-1]


def test_the_environment_variable_asks_for_the_traceback_too(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("CHEMNOETHER_DEBUG", "1")
    source = tmp_path / "in.csv"
    source.write_bytes(b"")
    code, err = run_main(["featurize", source, "-o", tmp_path / "g.bin"], capsys)
    assert code == 2 and "Traceback" in err and "is empty" in err.splitlines()[-1]


def test_a_failure_during_work_exits_1(tmp_path, capsys, monkeypatch):
    from chemnoether.errors import SimulationError  # noqa: PLC0415

    def unstable(*args, **kwargs):
        raise SimulationError("MD became unstable at step 3")

    monkeypatch.setattr("chemnoether.simulation.cli.generate_md", unstable)
    code, err = run_main(["md", "generate", "ethanol", "--steps", "10", "-o", tmp_path / "md", "-q"], capsys)
    assert code == 1 and "unstable at step 3" in one_error_line(err, "md generate")


# --- interrupts, in a fresh interpreter -------------------------------------------------------


def start(argv, cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "chemnoether.cli", *map(str, argv)],
        cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def wait_for(condition, process: subprocess.Popen, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            raise AssertionError(f"the command ended (exit {process.returncode}) first: {process.stderr.read()}")
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError("the command did not get that far in time")
        time.sleep(0.2)


@pytest.mark.slow
@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"])
def test_train_saves_says_how_to_resume_and_exits_non_zero(tmp_path, signum, code):
    from chemnoether.train.checkpoint import read_checkpoint  # noqa: PLC0415

    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(TINY_RECIPE))
    run_dir = tmp_path / "run"
    process = start(["train", recipe, "-o", run_dir], tmp_path)
    metrics = run_dir / "metrics.csv"
    wait_for(lambda: metrics.is_file() and len(metrics.read_text().splitlines()) > 1, process)  # ten steps done
    process.send_signal(signum)
    out, err = process.communicate(timeout=120)
    assert process.returncode == code, err
    line = one_error_line(err, "train")
    assert f"resume with: chemnoether train {recipe} -o {run_dir}" in line
    step = read_checkpoint(run_dir / "last.pt")["train_state"]["step"]
    assert step >= 10 and f"at step {step}" in line
    logged = pd.read_csv(run_dir / "metrics.csv")
    assert logged["step"].iloc[-1] == step  # the metrics reach the saved step, none lost


@pytest.mark.slow
def test_md_generate_keeps_complete_chunks_on_ctrl_c(tmp_path):
    from chemnoether.data.md_chunks import load_generated, read_manifest  # noqa: PLC0415

    out = tmp_path / "md"
    process = start(["md", "generate", "ethanol", "--steps", "2000000", "--chunk-frames", "200",
                     "--equilibration-steps", "0", "-o", out, "-q"], tmp_path)

    def chunks_written() -> bool:
        try:
            return read_manifest(out)["n_frames"] >= 200
        except Exception:  # noqa: BLE001 - not there yet
            return False

    wait_for(chunks_written, process)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert "run the same command again to continue" in one_error_line(err, "md generate")
    kept = load_generated(out)
    assert kept.n_frames >= 200 and kept.n_frames % 200 == 0
