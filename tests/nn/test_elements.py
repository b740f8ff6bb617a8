"""ElementTypes: atomic numbers -> type indices, and the unknown-element error."""

import pytest
import torch

from chemnoether.errors import ConfigError
from chemnoether.nn import ElementTypes


def test_types_follow_sorted_elements():
    types = ElementTypes([8, 1, 6])
    assert types.elements == (1, 6, 8)
    assert types(torch.tensor([6, 6, 8, 1])).tolist() == [1, 1, 2, 0]


def test_unknown_element_names_it_and_the_known_ones():
    with pytest.raises(ConfigError, match=r"7 \(N\).*1 \(H\), 6 \(C\), 8 \(O\)"):
        ElementTypes([1, 6, 8])(torch.tensor([6, 7, 1]))
    with pytest.raises(ConfigError, match="200"):
        ElementTypes([1, 6, 8])(torch.tensor([200]))


@pytest.mark.parametrize("elements", [[], [1, 1], [0], [119], ["C"], [True]])
def test_bad_element_lists(elements):
    with pytest.raises(ConfigError):
        ElementTypes(elements)
