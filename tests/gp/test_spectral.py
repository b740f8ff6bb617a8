"""Spectral densities and kernels: Fourier pairs, positive semi-definiteness, floors, RFF accuracy."""

import math

import pytest
import torch

import chemnoether  # noqa: F401 - before dgl
from chemnoether.errors import ConfigError
from chemnoether.gp import (
    DensityCollapseWarning,
    DensityEvolution,
    QuadricDensity,
    SpectralMixture,
    SpectralMixtureNet,
    incidence_context,
    rff_eps,
    to_frequency,
    to_wavenumber,
)

F64 = torch.float64


def random_mixture(seed: int, batch=(), q: int = 3) -> SpectralMixture:
    g = torch.Generator().manual_seed(seed)
    shape = (*batch, q)
    return SpectralMixture(
        alpha=torch.rand(shape, generator=g, dtype=F64) + 0.05,
        mu=torch.rand(shape, generator=g, dtype=F64) * to_frequency(4000.0),
        sigma=torch.rand(shape, generator=g, dtype=F64) * 0.01 + to_frequency(10.0),
    )


def min_eigenvalue(matrix: torch.Tensor) -> float:
    matrix = matrix.detach()
    return float(torch.linalg.eigvalsh(0.5 * (matrix + matrix.transpose(-1, -2))).min())


def test_wavenumber_conversion():
    assert to_wavenumber(1.0) == pytest.approx(33356.41, abs=0.01)
    assert to_frequency(to_wavenumber(0.1)) == pytest.approx(0.1)


def test_density_is_the_fourier_transform_of_the_kernel():
    """int S dw = K(0); int S(w) cos(2 pi w tau) dw = K(tau); a narrow component peaks at mu."""
    mixture = SpectralMixture(
        alpha=torch.tensor([0.7, 0.3], dtype=F64), mu=torch.tensor([0.03, 0.1], dtype=F64), sigma=torch.tensor([0.004, 0.002], dtype=F64)
    )
    grid = torch.linspace(-0.3, 0.3, 60001, dtype=F64)
    density = mixture.density(grid)
    assert float(torch.trapezoid(density, grid)) == pytest.approx(float(mixture.variance()), rel=1e-8)
    for tau in (0.0, 3.0, 17.5, 40.0):
        transform = torch.trapezoid(density * torch.cos(2 * math.pi * grid * tau), grid)
        assert float(transform) == pytest.approx(float(mixture.kernel(torch.tensor(tau, dtype=F64))), abs=1e-7)
    single = SpectralMixture(*(field[:1] for field in mixture._fields()))
    positive = grid >= 0
    peak = grid[positive][single.density(grid[positive]).argmax()]
    assert float(peak) == pytest.approx(0.03, abs=1e-5)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_spectral_mixture_kernel_is_psd(seed):
    mixture = random_mixture(seed, (4,))
    times = torch.rand(4, 60, generator=torch.Generator().manual_seed(seed + 10), dtype=F64) * 100
    matrices = mixture.kernel_matrix(times, times)
    assert matrices.shape == (4, 60, 60)
    for matrix in matrices:
        assert min_eigenvalue(matrix) >= -1e-8


def test_interaction_term_adds_its_kernel_and_stays_psd():
    nodes, graph = random_mixture(3, (5,)), random_mixture(4, (1,), q=2)
    joint = nodes.cat(graph.select(torch.zeros(5, dtype=torch.long)))
    assert joint.num_components == 5
    times = torch.rand(5, 50, generator=torch.Generator().manual_seed(5), dtype=F64) * 80
    summed = nodes.kernel_matrix(times, times) + graph.kernel_matrix(times, times)
    torch.testing.assert_close(joint.kernel_matrix(times, times), summed)
    for matrix in joint.kernel_matrix(times, times):
        assert min_eigenvalue(matrix) >= -1e-8


@pytest.mark.parametrize("dim", [1, 2, 3])
def test_quadric_kernel_is_psd(dim):
    torch.manual_seed(dim)
    quadric = QuadricDensity(dim).double()
    with torch.no_grad():
        quadric.raw_l.copy_(torch.randn(dim, dim, dtype=F64) * 0.5 + 3 * torch.eye(dim, dtype=F64))
        quadric.b.copy_(torch.randn(dim, dtype=F64) * 10)
        quadric.c.copy_(torch.randn((), dtype=F64))
    points = torch.rand(70, dim, dtype=F64) * 5
    assert min_eigenvalue(quadric.kernel_matrix(points, points)) >= -1e-8


def test_quadric_in_one_dimension_is_a_spectral_mixture_component():
    mu, sigma = 0.08, 0.01
    quadric = QuadricDensity(1).double()
    with torch.no_grad():  # A = 1 / (2 sigma^2), b = -2 A mu
        quadric.raw_l.fill_(math.sqrt(1 / (2 * sigma**2) - quadric.a_min))
        quadric.b.fill_(-mu / sigma**2)
        quadric.c.fill_(mu**2 / (2 * sigma**2))  # S(mu) = 1
    z, m, cov = (value.detach() for value in quadric.gaussian())
    assert float(m) == pytest.approx(mu) and float(cov) == pytest.approx(sigma**2)
    component = SpectralMixture(z.reshape(1), torch.tensor([mu], dtype=F64), torch.tensor([sigma], dtype=F64))
    times = torch.linspace(0, 60, 40, dtype=F64)
    torch.testing.assert_close(quadric.kernel_matrix(times[:, None], times[:, None]), component.kernel_matrix(times, times))
    grid = torch.linspace(-0.3, 0.3, 2001, dtype=F64)
    torch.testing.assert_close(quadric.density(grid[:, None]), component.density(grid))


def test_quadric_kernel_is_the_fourier_transform_in_two_dimensions():
    quadric = QuadricDensity(2).double()
    with torch.no_grad():
        quadric.raw_l.copy_(torch.tensor([[6.0, 0.0], [2.0, 5.0]], dtype=F64))
        quadric.b.copy_(torch.tensor([-10.0, 4.0], dtype=F64))
    axis = torch.linspace(-3, 3, 601, dtype=F64)
    w = torch.stack(torch.meshgrid(axis, axis, indexing="ij"), -1).reshape(-1, 2)
    density = quadric.density(w).detach()
    step = float(axis[1] - axis[0]) ** 2
    for tau in ([0.0, 0.0], [0.3, -0.2], [1.0, 0.5]):
        tau = torch.tensor(tau, dtype=F64)
        numeric = float((density * torch.cos(2 * math.pi * w @ tau)).sum()) * step
        assert numeric == pytest.approx(float(quadric.kernel_matrix(tau[None], torch.zeros(1, 2, dtype=F64)).detach()), abs=1e-8)


def test_rff_features_approximate_the_kernel():
    """K(0) = 1, lags up to 50 fs. Random eps, D = 4096 samples per component: largest error
    0.005-0.009 (seeds 0-4), allowed 0.02 (64 samples: 0.09). Quantile eps: 0.0023 at D = 64,
    0.00045 at D = 256, allowed 0.01 at 64."""
    mixture = SpectralMixture(
        alpha=torch.tensor([0.5, 0.3, 0.2], dtype=F64), mu=torch.tensor([0.03, 0.09, 0.11], dtype=F64), sigma=torch.tensor([0.002, 0.01, 0.004], dtype=F64)
    )
    times = torch.linspace(0, 50, 101, dtype=F64)
    exact = mixture.kernel_matrix(times, times)

    def error(eps):
        phi = mixture.rff_features(times, eps)
        assert phi.shape == (101, 2 * 3 * eps.numel())
        torch.testing.assert_close(phi.pow(2).sum(-1), exact.diagonal())  # exact on the diagonal
        return float((phi @ phi.T - exact).abs().max())

    assert error(rff_eps(4096, "random", seed=0)) < 0.02
    assert error(rff_eps(64, "random", seed=0)) > 0.02  # the tolerance means something
    assert error(rff_eps(64, "quantile")) < 0.01
    assert error(rff_eps(8, "quantile")) > 0.01


def test_mixture_net_respects_floors_and_band():
    net = SpectralMixtureNet(6, 4, freq_range=(to_frequency(500.0), to_frequency(4000.0)), sigma_min=1e-3, alpha_min=1e-2).double()
    mixture = net(torch.randn(30, 6, dtype=F64) * 10)
    assert mixture.alpha.shape == (30, 4)
    assert bool((mixture.alpha >= 1e-2).all() and (mixture.sigma >= 1e-3).all())
    assert bool((mixture.mu >= to_frequency(500.0)).all() and (mixture.mu <= to_frequency(4000.0)).all())
    start = SpectralMixtureNet(6, 4).double()(torch.zeros(1, 6, dtype=F64))
    assert to_wavenumber(start.mu[0]).tolist() == pytest.approx([500, 1500, 2500, 3500], abs=60)  # spread out


def test_collapsed_width_warns_and_stays_on_the_floor():
    net = SpectralMixtureNet(2, 2, sigma_min=1e-3).double()
    raw = torch.zeros(3, 6, dtype=F64)
    raw[:, 4:] = -200.0
    with pytest.warns(DensityCollapseWarning, match="width floor"):
        mixture = net.constrain(raw)
    assert bool((mixture.sigma >= 1e-3).all())


def test_bad_mixture_options_are_refused():
    with pytest.raises(ConfigError, match="freq_range"):
        SpectralMixtureNet(2, 2, freq_range=(0.1, 0.05))
    with pytest.raises(ConfigError, match="share a shape"):
        SpectralMixture(torch.ones(3), torch.ones(2), torch.ones(3))


def test_density_evolution_starts_as_identity_and_stays_valid():
    net = SpectralMixtureNet(4, 2).double()
    evolution = DensityEvolution(net.raw_size, 3).double()
    raw = net.raw(torch.randn(5, 4, dtype=F64))
    graph = torch.randn(2, 3, dtype=F64)
    node_graph = torch.tensor([0, 0, 0, 1, 1])
    steps = evolution(raw, graph, node_graph, 3)
    assert len(steps) == 4 and all(torch.equal(s, raw) for s in steps)
    with torch.no_grad():
        evolution.net[-1].weight.normal_(0, 0.5)
    steps = evolution(raw, graph, node_graph, 3)
    assert not torch.allclose(steps[3], raw)
    times = torch.linspace(0, 40, 30, dtype=F64).expand(5, 30)
    for matrix in net.constrain(steps[3]).kernel_matrix(times, times):
        assert min_eigenvalue(matrix) >= -1e-8


def test_incidence_context_averages_rings_of_each_atom():
    embeddings = torch.tensor([[1.0], [2.0], [3.0], [4.0], [5.0]], dtype=F64)
    # ring 0: atoms 0, 1, 2 (mean 2); ring 1: atoms 2, 3 (mean 3.5); atom 4 in none
    incidence = torch.tensor([[0, 1, 2, 2, 3], [0, 0, 0, 1, 1]])
    context = incidence_context(embeddings, incidence, 2)
    assert context[:, 0].tolist() == pytest.approx([2.0, 2.0, 2.75, 3.5, 0.0])
