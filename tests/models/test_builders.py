"""build_model: kinds by name from the core registry, with precise errors."""

import pytest

from chemnoether.errors import ConfigError
import chemnoether.noether  # noqa: F401 - registers noether_tailored
from chemnoether.core.registry import register_model
from chemnoether.models import (
    BUILDERS,
    EGNNDynamics,
    EquivariantDynamics,
    build_model,
    model_kinds,
)


def test_kinds():
    assert model_kinds() == ("equivariant", "egnn", "constant_velocity", "noether_tailored")
    assert isinstance(build_model("equivariant", elements=[1, 6], channels=4, layers=1), EquivariantDynamics)
    assert isinstance(build_model("egnn", elements=[1, 6]), EGNNDynamics)
    with pytest.raises(TypeError):
        BUILDERS["mine"] = EquivariantDynamics


def test_a_taken_kind_cannot_be_replaced():
    register_model("equivariant", EquivariantDynamics)  # the same builder again is harmless
    with pytest.raises(ConfigError, match="'egnn' is already registered"):
        register_model("egnn", EquivariantDynamics)
    assert BUILDERS["egnn"] is EGNNDynamics


def test_unknown_kind_lists_the_kinds():
    with pytest.raises(ConfigError, match=r"'transformer'.*\['equivariant', 'egnn', 'constant_velocity', 'noether_tailored'\]"):
        build_model("transformer", elements=[1])


def test_unknown_or_missing_option_lists_the_options():
    with pytest.raises(ConfigError, match=r"chanels.*'channels'"):
        build_model("equivariant", elements=[1, 6], chanels=4)
    with pytest.raises(ConfigError, match="elements"):
        build_model("egnn")


def test_config_has_every_option_with_defaults():
    model = build_model("equivariant", elements=(8, 1, 6))
    config = model.config
    assert config["elements"] == [1, 6, 8] and config["channels"] == 32 and config["layers"] == 3
    assert config["l_max"] == 1 and config["cutoff"] == 5.0 and config["num_basis"] == 8
    config["channels"] = 1  # a copy
    assert model.config["channels"] == 32
