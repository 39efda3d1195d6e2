"""The two-dimensional data, metric, networks and figure behind notebooks 03 and 05's toy experiments."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import pytest
import torch

from medgen_nb.data.points2d import ring_centres, ring_of_gaussians, two_moons
from medgen_nb.metrics.points2d import mode_coverage
from medgen_nb.models.mlp2d import TimeMLP, mlp
from medgen_nb.models.schedulers import NoiseSchedule
from medgen_nb.viz import point_panels


def test_ring_samples_sit_on_their_modes():
    g = torch.Generator().manual_seed(0)
    x, mode = ring_of_gaussians(4000, std=0.02, generator=g)
    centres = ring_centres(8, 2.0)
    assert x.shape == (4000, 2) and torch.allclose(centres.norm(dim=1), torch.full((8,), 2.0))
    assert torch.equal(torch.cdist(x, centres).argmin(1), mode)
    assert (x - centres[mode]).std().item() == pytest.approx(0.02, rel=0.05)
    cov = mode_coverage(x, centres, tolerance=0.06)  # 3 standard deviations
    assert cov["modes"] == 8 and cov["high_quality"] > 0.98 and int(cov["counts"].sum()) > 3900


def test_mode_coverage_counts_a_collapsed_generator():
    centres = ring_centres(8, 2.0)
    g = torch.Generator().manual_seed(1)
    collapsed = centres[[0, 3]].repeat(500, 1) + 0.01 * torch.randn(1000, 2, generator=g)
    cov = mode_coverage(collapsed, centres, tolerance=0.2)
    assert cov["modes"] == 2 and cov["high_quality"] == 1.0
    off = torch.zeros(100, 2)  # every sample at the centre of the ring: on no mode
    assert mode_coverage(off, centres, tolerance=0.2)["modes"] == 0
    with pytest.raises(ValueError, match="NaN"):
        mode_coverage(torch.full((3, 2), float("nan")), centres, tolerance=0.2)
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        mode_coverage(torch.zeros(3, 3), centres, tolerance=0.2)


def test_two_moons_are_two_arcs_of_unit_spread():
    x, moon = two_moons(2000, noise=0.0, generator=torch.Generator().manual_seed(0))
    assert set(moon.tolist()) == {0, 1}
    assert 0.5 < x.std(0).min() and x.std(0).max() < 1.5 and x.mean(0).abs().max() < 0.3
    raw = x * 0.75 + torch.tensor([0.5, 0.25])  # back to the unit half circles
    upper = raw[moon == 0]
    assert torch.allclose(upper.norm(dim=1), torch.ones(len(upper)), atol=1e-5)


def test_time_mlp_learns_the_moons_noise_and_samples_near_them():
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    sched, net = NoiseSchedule(50, "linear"), TimeMLP(dim=2, hidden=128)
    opt = torch.optim.Adam(net.parameters(), 2e-3)
    for _ in range(1200):
        x0, _ = two_moons(128, generator=g)
        t = torch.randint(0, 50, (128,), generator=g)
        eps = torch.randn(128, 2, generator=g)
        loss = ((eps - net(sched.add_noise(x0, eps, t), t)) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        x = torch.randn(500, 2, generator=g)
        for t in reversed(range(50)):
            x = sched.ddpm_step(x, net(x, torch.full((500,), t)), t, generator=g)
    real, _ = two_moons(2000, generator=g)
    near = (torch.cdist(x, real).min(1).values < 0.1).float().mean()
    noise_near = (
        (torch.cdist(torch.randn(500, 2, generator=g), real).min(1).values < 0.1).float().mean()
    )
    assert near > noise_near + 0.3  # the samples moved onto the moons
    with pytest.raises(ValueError, match="expected x"):
        net(torch.zeros(3, 2), torch.zeros(2))


def test_mlp_shapes_and_point_panels():
    assert mlp(4, 1)(torch.zeros(5, 4)).shape == (5, 1)
    with pytest.raises(ValueError):
        mlp(0, 1)
    pts = torch.randn(10, 2)
    fig = point_panels(
        {"a": [pts, pts]}, ["one", "two"], reference=pts, paths={"a": torch.randn(4, 3, 2)}
    )
    assert len(fig.axes) == 2
    with pytest.raises(ValueError, match="every row"):
        point_panels({"a": [pts]}, ["one", "two"])


def test_mlp_copies_are_independent_networks_in_one_product():
    torch.manual_seed(0)
    ens = mlp(3, 2, hidden=8, copies=4)
    singles = [mlp(3, 2, hidden=8) for _ in range(4)]
    for r, net in enumerate(singles):  # copy r of each ensemble layer into network r
        for layer, lin in zip(ens, net, strict=True):
            if isinstance(lin, torch.nn.Linear):
                lin.weight.data.copy_(layer.weight[r].T)
                lin.bias.data.copy_(layer.bias[r, 0])
    x = torch.randn(4, 5, 3)
    y = ens(x)
    assert y.shape == (4, 5, 2)
    for r, net in enumerate(singles):
        assert torch.allclose(y[r], net(x[r]), atol=1e-6)
    # a loss of copy 1 alone moves no parameter of another copy
    y[1].sum().backward()
    first = ens[0]
    assert first.weight.grad[1].abs().sum() > 0
    assert (
        first.weight.grad[[0, 2, 3]].abs().sum() == 0
        and first.bias.grad[[0, 2, 3]].abs().sum() == 0
    )
    # each copy starts like nn.Linear: uniform within 1/sqrt(in_dim), and the copies differ
    w = mlp(64, 1, copies=2)[0].weight
    assert w.abs().max() <= 1 / 8 and w.std().item() == pytest.approx(1 / 8 / 3**0.5, rel=0.05)
    assert not torch.equal(w[0], w[1])
    with pytest.raises(ValueError, match=r"copies=4, B, 3"):
        ens(torch.zeros(5, 3))
    with pytest.raises(ValueError, match="copies"):
        mlp(3, 2, copies=0)
