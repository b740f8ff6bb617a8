"""BesselBasis and PolynomialCutoff: values, smoothness at the cutoff, option checks."""

import math

import pytest
import torch

from chemnoether.errors import ConfigError
from chemnoether.nn import BesselBasis, PolynomialCutoff


def test_bessel_matches_formula_and_is_finite_at_zero():
    basis = BesselBasis(cutoff=5.0, num_basis=8).double()
    r = torch.tensor([0.0, 0.7, 2.5, 4.99], dtype=torch.float64)
    out = basis(r)
    assert out.shape == (4, 8)
    n = torch.arange(1, 9, dtype=torch.float64)
    expected = 2 / 5.0 * torch.sin(n * math.pi * r[1:, None] / 5.0) / r[1:, None]
    torch.testing.assert_close(out[1:], expected)
    # the r -> 0 limit of sin(n pi r / rc) / r is n pi / rc
    torch.testing.assert_close(out[0], 2 / 5.0 * n * math.pi / 5.0)


def test_bessel_trainable_frequencies():
    assert [name for name, _ in BesselBasis(5.0, 4, trainable=True).named_parameters()] == ["multiples"]
    assert not list(BesselBasis(5.0, 4).parameters())


def test_cutoff_is_one_at_zero_zero_beyond_and_smooth():
    cutoff = PolynomialCutoff(2.0, power=6)
    r = torch.tensor([0.0, 1.0, 1.999999, 2.0, 3.0, 100.0], dtype=torch.float64, requires_grad=True)
    f = cutoff(r)
    assert f[0] == 1.0
    assert 0 < f[1] < 1
    assert torch.all(f[3:] == 0)
    (grad,) = torch.autograd.grad(f.sum(), r, create_graph=True)
    assert abs(float(grad[2].detach())) < 1e-9 and torch.all(grad[3:] == 0)
    (second,) = torch.autograd.grad(grad.sum(), r)
    assert abs(float(second[2])) < 1e-4


@pytest.mark.parametrize(
    "make",
    [lambda: BesselBasis(0.0), lambda: BesselBasis(5.0, 0), lambda: PolynomialCutoff(-1.0), lambda: PolynomialCutoff(5.0, 1)],
)
def test_bad_options(make):
    with pytest.raises(ConfigError):
        make()
