import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from chemnoether.errors import ConfigError
from chemnoether.train import DistEnv, dist_env_from_environ, read_checkpoint
from chemnoether.train.batches import epoch_batches, eval_batches

WORKER = Path(__file__).parent / "ddp_worker.py"


def torchrun(run_dir: Path, epochs: int) -> str:
    """Two CPU processes (gloo) under torchrun, as a user with two GPUs would launch them."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               str(WORKER), str(run_dir), str(epochs)]
    done = subprocess.run(command, check=False, capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


@pytest.mark.slow  # two torchrun launches: 45 s
def test_two_processes_train_one_model_and_rank_0_writes(tmp_path):
    run = tmp_path / "run"
    out = torchrun(run, epochs=2)
    assert "rank 0: step 10" in out and "rank 1: step 10" in out  # 153 windows: 77 per process, 5 batches
    ranks = [torch.load(f"{run}.rank{r}.pt", weights_only=True) for r in (0, 1)]
    for name in ranks[0]:  # averaged gradients from the same start: the same model everywhere
        assert torch.equal(ranks[0][name], ranks[1][name]), name
    payload = read_checkpoint(run / "last.pt")
    assert payload["data_state"]["world_size"] == 2 and len(payload["rng"]) == 2
    for name, tensor in ranks[0].items():
        assert torch.equal(payload["model_state"][name], tensor)
    with open(run / "metrics.csv", newline="") as handle:
        steps = [int(row["step"]) for row in csv.DictReader(handle)]
    assert steps == [2, 4, 5, 6, 8, 10]  # one writer: no row twice
    assert (run / "config.yaml").is_file() and (run / "best.pt").is_file()

    out = torchrun(run, epochs=3)  # the same command, a longer run: resumes
    assert "rank 0: step 15, resumed from 10" in out and "rank 1: step 15, resumed from 10" in out


def test_environment_variables():
    assert dist_env_from_environ({}) == DistEnv(1, 0, 0)
    env = dist_env_from_environ({"WORLD_SIZE": "4", "RANK": "3", "LOCAL_RANK": "1"})
    assert env == DistEnv(4, 3, 1) and env.distributed and not env.is_main
    with pytest.raises(ConfigError, match="RANK=4 does not fit WORLD_SIZE=4"):
        dist_env_from_environ({"WORLD_SIZE": "4", "RANK": "4", "LOCAL_RANK": "0"})


def test_shards_cover_the_data():
    shards = [epoch_batches(10, 3, seed=1, epoch=2, env=DistEnv(2, r, r), drop_last=False) for r in (0, 1)]
    seen = sorted(i for shard in shards for batch in shard for i in batch)
    assert seen == list(range(10))
    assert epoch_batches(10, 3, seed=1, epoch=2, env=DistEnv(), drop_last=False) != epoch_batches(
        10, 3, seed=1, epoch=3, env=DistEnv(), drop_last=False
    )
    evals = [eval_batches(7, 2, DistEnv(2, r, r)) for r in (0, 1)]
    assert sorted(i for shard in evals for batch in shard for i in batch) == list(range(7))


TWO_PROCESS_RECIPE = """
data: {molecule: ethanol, n_steps: 200, delta: 2}
model: {kind: equivariant, channels: 4, layers: 1}
train: {epochs: 1, batch_size: 16, device: cpu, progress: false}
"""


@pytest.mark.slow
def test_the_documented_multi_process_command_trains_a_recipe(tmp_path):
    # README / recipes/README.md: torchrun --nproc_per_node N -m chemnoether.cli train RECIPE -o RUN
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(TWO_PROCESS_RECIPE)
    run = tmp_path / "run"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "chemnoether.cli", "train", str(recipe), "-o", str(run)]
    done = subprocess.run(command, check=False, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    payload = read_checkpoint(run / "last.pt")
    assert payload["data_state"]["world_size"] == 2 and payload["model_kind"] == "equivariant"
