import csv
import logging
import math
import os
import signal

import pytest
import torch

from chemnoether.errors import ConfigError
from chemnoether.train import (
    Callback,
    NonFiniteLossError,
    fit,
    load_recipe,
    read_checkpoint,
)
from chemnoether.train.metrics_log import COLUMNS
from chemnoether.train.state import TrainState


class StopAt(Callback):
    """Ends the run after step ``step`` as a graceful interruption would (``last.pt`` written)."""

    def __init__(self, step: int):
        self.step = step

    def on_step_end(self, state: TrainState, loss: float) -> None:
        if state.step == self.step:
            state.request_stop()


class CrashAt(Callback):
    """Kills the run after step ``step`` without a checkpoint, as a lost machine would."""

    def __init__(self, step: int):
        self.step = step

    def on_step_end(self, state: TrainState, loss: float) -> None:
        if state.step == self.step:
            raise KeyboardInterrupt


def rows(run_dir):
    with open(run_dir / "metrics.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def assert_same_parameters(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for name in sa:
        assert torch.equal(sa[name], sb[name]), name


def test_training_reduces_the_loss_and_logs(windows, make_model, quick, tmp_path):
    result = fit(make_model(), windows.train, windows.val, quick(epochs=3, eval_every=5), tmp_path / "run")
    table = rows(tmp_path / "run")
    assert tuple(table[0].keys()) == COLUMNS
    losses = [float(r["train_loss"]) for r in table]
    assert losses[-1] < 0.2 * losses[0]
    val_rows = [r for r in table if r["val_loss"]]
    assert [int(r["step"]) for r in val_rows] == [5, 10, 15, 20, 25, 30]
    assert float(val_rows[-1]["val_loss"]) < float(val_rows[0]["val_loss"])
    assert all(float(r["molecules_per_s"]) > 0 for r in table)
    assert result.stopped == "completed" and result.step == 30 and result.epochs_completed == 3
    assert result.molecules_per_s > 0 and result.best_val_loss == min(float(r["val_loss"]) for r in val_rows)
    assert result.last_checkpoint.name == "last.pt" and result.best_checkpoint.name == "best.pt"
    saved = load_recipe(tmp_path / "run" / "config.yaml")
    assert saved.train == quick(epochs=3, eval_every=5)
    assert saved.model == {"kind": "standin", "hidden": 8, "dropout": 0.1}


def test_resumed_run_equals_uninterrupted_run(windows, make_model, quick, tmp_path):
    config = quick(epochs=3, schedule="cosine", warmup_steps=3)
    whole = make_model()
    fit(whole, windows.train, windows.val, config, tmp_path / "whole")

    parted = make_model()
    first = fit(parted, windows.train, windows.val, config, tmp_path / "parted", callbacks=[StopAt(13)])
    assert first.stopped == "callback" and first.step == 13  # mid-epoch: 10 batches per epoch
    resumed_model = make_model(seed=123)  # a fresh process: other initial weights, other RNG state
    second = fit(resumed_model, windows.train, windows.val, config, tmp_path / "parted")
    assert second.resumed_from_step == 13 and second.step == 30
    assert_same_parameters(whole, resumed_model)
    keep = ("step", "epoch", "train_loss", "val_loss", "lr")
    assert [[r[k] for k in keep] for r in rows(tmp_path / "whole")] == [[r[k] for k in keep] for r in rows(tmp_path / "parted")]


def test_crash_between_checkpoints_resumes_from_the_last_one(windows, make_model, quick, tmp_path):
    config = quick(epochs=2, checkpoint_every=4)
    whole = make_model()
    fit(whole, windows.train, windows.val, config, tmp_path / "whole")
    with pytest.raises(KeyboardInterrupt):
        fit(make_model(), windows.train, windows.val, config, tmp_path / "crash", callbacks=[CrashAt(11)])
    assert read_checkpoint(tmp_path / "crash" / "last.pt")["train_state"]["step"] == 8
    assert max(int(r["step"]) for r in rows(tmp_path / "crash")) == 10  # rows after the checkpoint...
    resumed = make_model(seed=5)
    result = fit(resumed, windows.train, windows.val, config, tmp_path / "crash")
    assert result.resumed_from_step == 8
    assert_same_parameters(whole, resumed)
    assert [r["step"] for r in rows(tmp_path / "crash")] == [r["step"] for r in rows(tmp_path / "whole")]  # ...redone once


def test_checkpoint_is_plain_data(windows, make_model, quick, tmp_path):
    model = make_model()
    fit(model, windows.train, windows.val, quick(epochs=1), tmp_path / "run")
    payload = torch.load(tmp_path / "run" / "last.pt", weights_only=True)
    assert {"model_state", "optimizer_state", "schedule_state", "scaler_state", "rng", "data_state", "train_state",
            "train_config", "chemnoether_version", "model_kind", "model_config"} <= set(payload)
    assert payload["model_kind"] == "standin" and payload["model_config"] == {"hidden": 8, "dropout": 0.1}
    assert payload["train_state"]["step"] == 10 and payload["data_state"]["seed"] == 0
    assert set(payload["rng"][0]) == {"python", "numpy", "torch"}
    for name, tensor in model.state_dict().items():
        assert torch.equal(payload["model_state"][name], tensor)


def test_non_finite_loss_names_the_step_and_keeps_the_good_checkpoint(windows, make_model, quick, tmp_path):
    calls = {"train": 0}

    def loss_fn(prediction, batch):
        loss = torch.mean((prediction.pos - batch.atom["next_pos"]) ** 2)
        if torch.is_grad_enabled():
            calls["train"] += 1
            if calls["train"] == 5:
                return loss * math.nan
        return loss

    with pytest.raises(NonFiniteLossError) as info:
        fit(make_model(), windows.train, windows.val, quick(checkpoint_every=1), tmp_path / "run", loss_fn=loss_fn)
    message = str(info.value)
    assert "training loss is nan at step 5" in message and "window start frames [" in message
    assert "last.pt is left as it was" in message
    payload = read_checkpoint(tmp_path / "run" / "last.pt")
    assert payload["train_state"]["step"] == 4
    assert all(torch.isfinite(t).all() for t in payload["model_state"].values())


def test_run_dir_policies(windows, make_model, quick, tmp_path):
    run = tmp_path / "run"
    with pytest.raises(ConfigError, match="resume='must' but .* holds no last.pt"):
        fit(make_model(), windows.train, windows.val, quick(epochs=1), run, resume="must")
    assert not run.exists()  # refused before any work
    fit(make_model(), windows.train, windows.val, quick(epochs=1), run, resume="never")
    with pytest.raises(ConfigError) as info:
        fit(make_model(), windows.train, windows.val, quick(epochs=1), run, resume="never")
    assert str(run) in str(info.value) and "resume='auto'" in str(info.value)
    again = fit(make_model(), windows.train, windows.val, quick(epochs=2), run, resume="must")
    assert again.resumed_from_step == 10 and again.step == 20  # longer runs may resume
    with pytest.raises(ConfigError, match="train.lr: 0.01 in the checkpoint, 0.1 now"):
        fit(make_model(), windows.train, windows.val, quick(epochs=2, lr=0.1), run)
    with pytest.raises(ConfigError, match="model kind 'standin' and config"):
        fit(make_model(hidden=4), windows.train, windows.val, quick(epochs=2), run)
    with pytest.raises(ConfigError, match="resume must be one of"):
        fit(make_model(), windows.train, windows.val, quick(), run, resume="yes")


def test_early_stopping(windows, make_model, quick, tmp_path):
    # no evaluation can beat the first by a margin of 1: the patience runs out at the third
    config = quick(epochs=50, eval_every=2, early_stopping_patience=2, early_stopping_min_delta=1.0)
    result = fit(make_model(), windows.train, windows.val, config, tmp_path / "run")
    assert result.stopped == "early_stopping" and result.step == 6
    assert read_checkpoint(tmp_path / "run" / "best.pt")["train_state"]["step"] == result.best_step
    resumed = fit(make_model(), windows.train, windows.val, config, tmp_path / "run")
    assert resumed.stopped == "early_stopping" and resumed.step == 6  # a stopped run stays stopped


def test_options_checked_before_work(windows, make_model, quick, tmp_path):
    with pytest.raises(ConfigError, match="early_stopping_patience needs val_data"):
        fit(make_model(), windows.train, None, quick(early_stopping_patience=2), tmp_path / "a")
    model = make_model()
    model.config = {"hidden": object()}
    with pytest.raises(ConfigError, match="JSON-serialisable"):
        fit(model, windows.train, windows.val, quick(), tmp_path / "b")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_without_val_data(windows, make_model, quick, tmp_path):
    result = fit(make_model(), windows.train, None, quick(epochs=1, log_every=4), tmp_path / "run")
    assert result.best_checkpoint is None and result.last_checkpoint is not None and result.val_loss is None
    assert [r["step"] for r in rows(tmp_path / "run")] == ["4", "8", "10"]


class Graphs(torch.utils.data.Dataset):
    """The windows one graph at a time: the path of any dataset of DGL graphs (collate_graphs)."""

    def __init__(self, windows):
        self.windows = windows

    def __len__(self):
        return len(self.windows)

    def __getitem__(self, index):
        return self.windows[index]


def test_any_graph_dataset_trains_like_the_windows(windows, make_model, quick, tmp_path):
    config = quick(epochs=1)
    batched, single = make_model(), make_model()
    fit(batched, windows.train, windows.val, config, tmp_path / "batched")
    val_list = [windows.val[i] for i in range(len(windows.val))]  # a plain list of graphs works too
    fit(single, Graphs(windows.train), val_list, config, tmp_path / "single")
    assert_same_parameters(batched, single)


class Terminate(Callback):
    def __init__(self, signum=signal.SIGTERM):
        self.signum = signum

    def on_step_end(self, state, loss):
        if state.step == 3:
            os.kill(os.getpid(), self.signum)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_stops_after_the_step_with_a_checkpoint(windows, make_model, quick, tmp_path, signum):
    before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    result = fit(make_model(), windows.train, windows.val, quick(), tmp_path / "run", callbacks=[Terminate(signum)])
    assert result.stopped == "signal" and result.stop_signal == signum and result.step == 3
    assert read_checkpoint(tmp_path / "run" / "last.pt")["train_state"]["step"] == 3
    assert {s: signal.getsignal(s) for s in before} == before  # handlers given back


def test_amp_is_ignored_on_cpu_with_a_log_line(windows, make_model, quick, tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="chemnoether.train"):
        result = fit(make_model(), windows.train, None, quick(epochs=1, amp=True), tmp_path / "run")
    assert result.step == 10 and "train.amp is ignored on cpu" in caplog.text


def test_fields_set_after_construction_are_checked(windows, make_model, quick, tmp_path):
    config = quick()
    config.lr = "fast"
    with pytest.raises(ConfigError, match="train.lr: expected float, got str 'fast'"):
        fit(make_model(), windows.train, windows.val, config, tmp_path / "run")


def test_amp_is_refused_for_a_model_that_cannot_run_under_autocast(windows, quick, tmp_path):
    from chemnoether.models import EquivariantDynamics

    with pytest.raises(ConfigError, match="train.amp: EquivariantDynamics cannot run under torch.autocast"):
        fit(EquivariantDynamics([1, 6, 8], channels=4, layers=1), windows.train, None, quick(amp=True), tmp_path / "run")
    assert not (tmp_path / "run" / "last.pt").exists()


@pytest.mark.slow
def test_compiled_training_follows_the_eager_run(windows, make_model, quick, tmp_path):
    from torch._dynamo.utils import counters

    eager = fit(make_model(), windows.train, None, quick(epochs=1), tmp_path / "eager")
    counters.clear()
    compiled = fit(make_model(), windows.train, None, quick(epochs=1, compile="default"), tmp_path / "compiled")
    assert compiled.step == eager.step and counters["frames"]["ok"] > 0  # TorchDynamo did compile the step

    def losses(run):
        with open(tmp_path / run / "metrics.csv") as handle:
            return torch.tensor([float(row["train_loss"]) for row in csv.DictReader(handle)][:5])

    # fused kernels sum in another order; Adam then amplifies float noise in near-zero gradients,
    # so the first steps' losses are compared, not the weights after many steps
    torch.testing.assert_close(losses("compiled"), losses("eager"), rtol=2e-3, atol=0)
    eager_state = read_checkpoint(tmp_path / "eager" / "last.pt")["model_state"]
    compiled_state = read_checkpoint(tmp_path / "compiled" / "last.pt")["model_state"]
    assert compiled_state.keys() == eager_state.keys()  # the plain module is saved, not the compiled wrapper
