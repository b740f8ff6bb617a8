import pytest
import standin
import torch

from chemnoether.errors import ConfigError
from chemnoether.train import (
    CheckpointError,
    find_checkpoint,
    fit,
    load_model,
    read_checkpoint,
)
from chemnoether.train.checkpoint import save_checkpoint


@pytest.fixture(scope="module")
def run(windows, tmp_path_factory):
    torch.manual_seed(0)
    model = standin.StandIn(hidden=6)
    run_dir = tmp_path_factory.mktemp("ckpt") / "run"
    config = standin_config()
    fit(model, windows.train, windows.val, config, run_dir)
    return run_dir, model


def standin_config():
    from chemnoether.train import TrainConfig

    return TrainConfig(epochs=1, batch_size=32, device="cpu", progress=False)


def test_load_model_rebuilds_the_trained_model(run):
    run_dir, trained = run
    for source in (run_dir, run_dir / "best.pt", run_dir / "last.pt"):
        model = load_model(source, builder=standin.build, kind="standin")
        assert not model.training
        for name, tensor in trained.state_dict().items():
            assert torch.equal(model.state_dict()[name], tensor), name


def test_other_kind_version_or_parameters_are_refused(run, tmp_path):
    run_dir, _ = run
    with pytest.raises(ConfigError, match="holds a 'standin' model, not the 'egnn' asked for"):
        load_model(run_dir, builder=standin.build, kind="egnn")

    payload = read_checkpoint(run_dir / "best.pt")
    save_checkpoint(tmp_path / "old.pt", {**payload, "chemnoether_version": "0.0.1"})
    with pytest.raises(CheckpointError, match="written by chemnoether 0.0.1, this is"):
        load_model(tmp_path / "old.pt", builder=standin.build)
    assert load_model(tmp_path / "old.pt", builder=standin.build, allow_other_version=True) is not None

    save_checkpoint(tmp_path / "wider.pt", {**payload, "model_config": {"hidden": 9, "dropout": 0.1}})
    with pytest.raises(CheckpointError, match=r"shape \(checkpoint vs model\): mlp.0.bias \(6,\) vs \(9,\)"):
        load_model(tmp_path / "wider.pt", builder=standin.build)

    state = dict(payload["model_state"])
    state["extra"] = state.pop("a")
    save_checkpoint(tmp_path / "renamed.pt", {**payload, "model_state": state})
    with pytest.raises(CheckpointError, match="missing: a; unexpected: extra"):
        load_model(tmp_path / "renamed.pt", builder=standin.build)


class Payload:
    """Not plain data: weights_only loading must refuse it."""


def test_unsafe_or_foreign_files_are_refused(tmp_path):
    torch.save({"format": 1, "obj": Payload()}, tmp_path / "unsafe.pt")
    with pytest.raises(CheckpointError, match="not a plain-data checkpoint"):
        read_checkpoint(tmp_path / "unsafe.pt")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="not a chemnoether training checkpoint"):
        read_checkpoint(tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="holds no best.pt or last.pt"):
        find_checkpoint(tmp_path)
    with pytest.raises(CheckpointError, match="neither a checkpoint file nor a run directory"):
        find_checkpoint(tmp_path / "missing")
