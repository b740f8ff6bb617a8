"""Every recipe in recipes/ is valid: `chemnoether train RECIPE --check` accepts it before any work."""

from pathlib import Path

import pytest
import yaml

from chemnoether.cli import main
from chemnoether.core.registry import model_kinds
from chemnoether.train.checkpoint import default_builder

RECIPES = sorted(p for p in (Path(__file__).parent.parent / "recipes").glob("*/*.yaml") if p.name != "peers.yaml")

default_builder()  # registers every shipped kind
KINDS = model_kinds()


@pytest.mark.parametrize("recipe", RECIPES, ids=[f"{p.parent.name}/{p.name}" for p in RECIPES])
def test_recipe_passes_the_check(recipe, tmp_path, capsys):
    argv = ["train", str(recipe), "-o", str(tmp_path / "run"), "--check"]
    if "trajectory" in yaml.safe_load(recipe.read_text())["data"]:
        # a recipe for the user's own file (md17/file.yaml) is checked with one standing in for it
        (tmp_path / "given.npz").write_bytes(b"")
        argv += ["--set", f"data.trajectory={tmp_path / 'given.npz'}"]
    assert main(argv) == 0
    resolved = yaml.safe_load(capsys.readouterr().out)
    assert resolved["model"]["kind"] in KINDS


def test_every_preset_has_a_quick_and_a_full_variant():
    folders = {p.parent for p in RECIPES if p.name in ("quick.yaml", "full.yaml")}
    for folder in folders:
        assert (folder / "quick.yaml").exists() and (folder / "full.yaml").exists(), folder


def test_peers_are_buildable_model_sections():
    peers = yaml.safe_load((Path(__file__).parent.parent / "recipes" / "md17" / "peers.yaml").read_text())
    assert all(section["kind"] in KINDS for section in peers.values())
