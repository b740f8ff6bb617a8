import pytest
import yaml

from chemnoether.errors import ConfigError
from chemnoether.train import (
    LossWeights,
    Recipe,
    TrainConfig,
    load_recipe,
    recipe_from_dict,
    save_recipe,
)
from chemnoether.train.config import apply_override

RECIPE = """
data:
  molecule: ethanol
  delta: 2
model:
  kind: standin
  hidden: 8
train:
  epochs: 3
  lr: 1e-3          # YAML 1.1 reads this as a string: it must still be a float
  batch_size: 16
  loss_weights:
    vel: 0.5
"""


@pytest.fixture
def recipe_file(tmp_path):
    path = tmp_path / "recipe.yaml"
    path.write_text(RECIPE)
    return path


def test_recipe_is_read_and_checked(recipe_file):
    recipe = load_recipe(recipe_file)
    assert recipe.data == {"molecule": "ethanol", "delta": 2}
    assert recipe.model == {"kind": "standin", "hidden": 8}
    assert recipe.train.lr == 1e-3 and isinstance(recipe.train.lr, float)
    assert recipe.train.loss_weights == LossWeights(pos=1.0, vel=0.5)
    assert recipe.train.epochs == 3 and recipe.train.schedule == "cosine"  # defaults fill the rest
    assert recipe.tailoring is None


def test_overrides_flat_nested_and_free_sections(recipe_file):
    recipe = load_recipe(
        recipe_file,
        ["train.lr=5e-4", "train.loss_weights.pos=2", "train.grad_clip=null", "model.hidden=32",
         "data.molecule=aspirin", "tailoring.weight=0.1", "train.schedule=plateau"],
    )
    assert recipe.train.lr == 5e-4
    assert recipe.train.loss_weights == LossWeights(pos=2.0, vel=0.5)
    assert recipe.train.grad_clip is None and recipe.train.schedule == "plateau"
    assert recipe.model["hidden"] == 32 and recipe.data["molecule"] == "aspirin"
    assert recipe.tailoring == {"weight": 0.1}


def test_override_values_are_yaml_scalars_never_code(recipe_file):
    recipe = load_recipe(recipe_file, ["data.molecule=__import__('os').getcwd()"])
    assert recipe.data["molecule"] == "__import__('os').getcwd()"


@pytest.mark.parametrize(
    ("text", "needles"),
    [
        ("train:\n  lrr: 0.1\n", ["train.lrr", "did you mean 'lr'"]),
        ("train:\n  batch_size: 1.5\n", ["train.batch_size", "int", "1.5"]),
        ("train:\n  epochs: true\n", ["train.epochs", "int or null"]),
        ("train:\n  lr: fast\n", ["train.lr", "float", "'fast'"]),
        ("train:\n  schedule: linear\n", ["train.schedule", "'cosine', 'plateau', 'constant'"]),
        ("train:\n  loss_weights:\n    force: 1\n", ["train.loss_weights.force", "valid keys: pos, vel"]),
        ("train:\n  batch_size: 0\n", ["train.batch_size", ">= 1"]),
        ("train:\n  epochs: null\n", ["train.epochs or train.max_steps"]),
        ("trian:\n  lr: 0.1\n", ["unknown section 'trian'", "did you mean 'train'"]),
        ("model: [1, 2]\n", ["section 'model' must be a mapping"]),
        ("train: {lr: [\n", ["not valid YAML"]),
    ],
)
def test_bad_recipes_name_the_key_and_the_type(tmp_path, text, needles):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_recipe(path)
    for needle in needles + [str(path)]:
        assert needle in str(info.value)


@pytest.mark.parametrize(
    ("override", "needles"),
    [
        ("train.lerning_rate=0.1", ["train.lerning_rate", "unknown key"]),
        ("train.loss_weights.force=1", ["train.loss_weights.force", "valid keys: pos, vel"]),
        ("train.batch_size=big", ["train.batch_size", "expected int", "'big'"]),
        ("train.lr.x=1", ["train.lr has no sub-keys"]),
        ("train.lr", ["section.key=value"]),
        ("lr=0.1", ["section.key"]),
        ("optim.lr=0.1", ["unknown section 'optim'"]),
        ("model.hidden.width=3", ["model.hidden is 8, not a mapping"]),
    ],
)
def test_bad_overrides_are_named(recipe_file, override, needles):
    with pytest.raises(ConfigError) as info:
        load_recipe(recipe_file, [override])
    message = str(info.value)
    assert all(needle in message for needle in needles), message


def test_schemas_check_more_sections(recipe_file):
    from dataclasses import dataclass

    @dataclass
    class DataOptions:
        molecule: str = "ethanol"
        delta: int = 1

    recipe = load_recipe(recipe_file, ["data.delta=4"], schemas={"data": DataOptions})
    assert recipe.data == DataOptions("ethanol", 4)
    with pytest.raises(ConfigError, match="data.delta: expected int"):
        load_recipe(recipe_file, ["data.delta=4.5"], schemas={"data": DataOptions})
    with pytest.raises(ConfigError, match="unknown key data.frames"):
        load_recipe(recipe_file, ["data.frames=4"], schemas={"data": DataOptions})


def test_train_config_checks_direct_construction():
    assert TrainConfig(lr=1).lr == 1.0  # ints are floats where floats are asked
    with pytest.raises(ConfigError, match="train.grad_clip"):
        TrainConfig(grad_clip=-1.0)
    with pytest.raises(ConfigError, match="train.device"):
        TrainConfig(device="gpu")
    with pytest.raises(ConfigError, match="train.loss_weights"):
        TrainConfig(loss_weights=LossWeights(pos=0.0, vel=0.0))


def test_saved_recipe_reads_back_unchanged(recipe_file, tmp_path):
    recipe = load_recipe(recipe_file, ["train.loss_weights.vel=0.25"])
    out = save_recipe(recipe, tmp_path / "run" / "config.yaml")
    assert yaml.safe_load(out.read_text())["train"]["loss_weights"] == {"pos": 1.0, "vel": 0.25, "energy": 0.0, "forces": 0.0}
    assert load_recipe(out) == recipe
    assert recipe_from_dict(recipe.to_dict()) == recipe


def test_apply_override_edits_a_plain_mapping():
    raw = {"train": {"lr": 0.1}}
    apply_override(raw, "train.warmup_steps=100")
    apply_override(raw, "model.blocks.count=3")
    assert raw == {"train": {"lr": 0.1, "warmup_steps": 100}, "model": {"blocks": {"count": 3}}}
    assert isinstance(recipe_from_dict(raw), Recipe)
