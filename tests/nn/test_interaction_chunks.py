"""Large graphs run their edges in slices (``EDGE_CHUNK``): the result must not depend on it."""

import torch
from e3nn import o3

import chemnoether.nn._interaction as interaction
from chemnoether.nn import InteractionBlock
from chemnoether.nn.testing import float64_default


def test_edge_slices_give_the_same_features_and_gradients(monkeypatch):
    torch.manual_seed(0)
    with float64_default():
        block = InteractionBlock("4x0e + 2x1o", "4x0e + 2x1o", o3.Irreps.spherical_harmonics(1), num_basis=4,
                                 radial_neurons=8, avg_num_neighbors=3.0).double()
    n, e = 30, 200
    x = torch.randn(n, block.irreps_in.dim, dtype=torch.float64, requires_grad=True)
    edge_index = torch.randint(0, n, (2, e))
    vectors = torch.randn(e, 3, dtype=torch.float64)
    sh = o3.spherical_harmonics(block.irreps_sh, vectors, normalize=True)
    basis, envelope = torch.rand(e, 4, dtype=torch.float64), torch.rand(e, dtype=torch.float64)

    def run():
        out = block(x, edge_index, sh, basis, envelope)
        (grad,) = torch.autograd.grad(out.pow(2).sum(), x)
        return out.detach(), grad

    whole = run()
    monkeypatch.setattr(interaction, "EDGE_CHUNK", 37)  # 200 edges in 6 slices, the last one short
    sliced = run()
    for a, b in zip(whole, sliced):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
