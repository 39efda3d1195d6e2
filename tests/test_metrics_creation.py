"""Creation metrics (review Table 1) against closed forms, scipy and torchmetrics."""

import pytest
import torch
from scipy.stats import wasserstein_distance

from medgen_nb.metrics import (
    bootstrap_ci,
    density_coverage,
    fid,
    fid_vs_n,
    frechet_distance,
    inception_fid,
    inception_score,
    kid,
    mean_ci,
    memorisation,
    mmd,
    mode_score,
    precision_recall,
    sliced_wasserstein,
    wasserstein_1d,
)


def _gauss(n, d=8, shift=0.0, scale=1.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=torch.float64) * scale + shift


def test_frechet_distance_of_known_gaussians():
    # Diagonal covariances: FD = |mu1-mu2|^2 + sum (s1 - s2)^2 with s the standard deviations
    mu1, mu2 = (
        torch.zeros(3, dtype=torch.float64),
        torch.tensor([1.0, 2.0, 0.0], dtype=torch.float64),
    )
    var1 = torch.tensor([1.0, 4.0, 9.0], dtype=torch.float64)
    var2 = torch.tensor([4.0, 1.0, 9.0], dtype=torch.float64)
    expected = 5.0 + ((var1.sqrt() - var2.sqrt()) ** 2).sum().item()
    assert frechet_distance(mu1, torch.diag(var1), mu2, torch.diag(var2)) == pytest.approx(expected)
    # a non-diagonal pair: rotate both covariances by one orthogonal matrix (FD is invariant)
    q, _ = torch.linalg.qr(_gauss(3, 3, seed=1))
    fd_rot = frechet_distance(
        q @ mu1, q @ torch.diag(var1) @ q.T, q @ mu2, q @ torch.diag(var2) @ q.T
    )
    assert fd_rot == pytest.approx(expected, rel=1e-9)
    # C1 = I and a full C2: Tr (C1 C2)^1/2 = sum of sqrt(eigenvalues of C2)
    a = _gauss(3, 3, seed=2)
    c2 = a @ a.T + 0.1 * torch.eye(3, dtype=torch.float64)
    closed = 3 + c2.trace() - 2 * torch.linalg.eigvalsh(c2).sqrt().sum()
    assert frechet_distance(mu1, torch.eye(3), mu1, c2) == pytest.approx(float(closed), rel=1e-9)


def test_fid_of_samples_approaches_closed_form():
    real, fake = _gauss(4000, 4), _gauss(4000, 4, shift=1.0, scale=2.0, seed=1)
    assert fid(real, fake) == pytest.approx(4 * 1.0 + 4 * (2 - 1) ** 2, rel=0.05)


def test_fid_and_kid_match_torchmetrics_with_custom_feature():
    from torchmetrics.image.fid import FrechetInceptionDistance
    from torchmetrics.image.kid import KernelInceptionDistance

    class Flatten(torch.nn.Module):
        num_features = 16

        def forward(self, x):
            return x.flatten(1)

    g = torch.Generator().manual_seed(0)
    real = torch.rand(60, 1, 4, 4, generator=g)
    fake = torch.rand(50, 1, 4, 4, generator=g) ** 2
    tm = FrechetInceptionDistance(feature=Flatten(), normalize=True)
    tk = KernelInceptionDistance(feature=Flatten(), normalize=True, subsets=1, subset_size=50)
    for m in (tm, tk):
        m.update(real, real=True)
        m.update(fake, real=False)
    assert fid(real.flatten(1), fake.flatten(1)) == pytest.approx(float(tm.compute()), rel=1e-4)
    # with subset_size = len(fake) torchmetrics uses all fake rows and a random 50 of the real ones
    torch.manual_seed(0)
    kid_tm = float(tk.compute()[0])
    torch.manual_seed(0)
    idx = torch.randperm(60)[:50]
    assert kid(real.flatten(1)[idx], fake.flatten(1)) == pytest.approx(kid_tm, rel=1e-4)


def test_inception_score_limits():
    k = 5
    assert inception_score(torch.full((40, k), 1 / k)) == pytest.approx(1.0)
    confident = torch.eye(k).repeat(8, 1)  # each class predicted with certainty, equally often
    assert inception_score(confident) == pytest.approx(k)
    collapsed = torch.eye(k)[[0] * 40]
    assert inception_score(collapsed) == pytest.approx(1.0)


def test_mode_score_penalises_wrong_class_histogram():
    k = 4
    balanced = torch.eye(k).repeat(10, 1)
    assert mode_score(balanced, balanced) == pytest.approx(inception_score(balanced))
    skewed_real = torch.eye(k)[[0] * 30 + [1, 2, 3] * 3 + [1]]
    assert mode_score(balanced, skewed_real) < inception_score(balanced)


def test_mmd_and_kid_zero_for_same_and_positive_for_shifted():
    real, same, shifted = _gauss(100), _gauss(100, seed=1), _gauss(100, shift=0.6, seed=2)
    for metric in (mmd, kid):
        ci_same = bootstrap_ci(metric, real, same, n_boot=40, seed=0)
        ci_shift = bootstrap_ci(metric, real, shifted, n_boot=40, seed=0)
        assert ci_same.low <= 0.0 <= ci_same.high, (metric.__name__, ci_same)
        assert ci_shift.low > 0.0, (metric.__name__, ci_shift)


def test_wasserstein_1d_matches_scipy():
    g = torch.Generator().manual_seed(0)
    u, v = torch.rand(300, generator=g), torch.rand(7, 5, generator=g) ** 2
    assert wasserstein_1d(u, v) == pytest.approx(
        wasserstein_distance(u.numpy(), v.flatten().numpy())
    )


def test_sliced_wasserstein_orders_shifts():
    real = _gauss(200)
    assert sliced_wasserstein(real, _gauss(200, seed=1)) < sliced_wasserstein(
        real, _gauss(200, shift=1, seed=1)
    )


def test_precision_recall_separate_fidelity_and_diversity():
    real = _gauss(300, 2)
    collapsed = _gauss(300, 2, scale=0.2, seed=1)  # realistic but not diverse
    off_manifold = _gauss(300, 2, shift=4.0, seed=2)  # diverse but unrealistic
    pr_c, pr_o = precision_recall(real, collapsed), precision_recall(real, off_manifold)
    assert pr_c["precision"] > 0.9 and pr_c["recall"] < 0.3
    assert pr_o["precision"] < 0.1
    pr_same = precision_recall(real, _gauss(300, 2, seed=3))
    assert pr_same["precision"] > 0.8 and pr_same["recall"] > 0.8
    dc = density_coverage(real, _gauss(300, 2, seed=3))
    assert 0.7 < dc["density"] < 1.3 and dc["coverage"] > 0.8
    assert density_coverage(real, collapsed)["coverage"] < 0.4


def test_memorisation_detects_copies():
    train, heldout = _gauss(200, 4), _gauss(100, 4, seed=1)
    fresh = memorisation(_gauss(100, 4, seed=2), train, heldout)
    copies = memorisation(train[:100] + 0.01 * _gauss(100, 4, seed=3), train, heldout)
    assert 0.7 < fresh.ratio < 1.4 and fresh.copy_fraction < 0.2
    assert copies.ratio < 0.1 and copies.copy_fraction > 0.9


def test_fid_vs_n_shows_small_sample_bias():
    real, fake = _gauss(400, 8), _gauss(400, 8, seed=1)
    curve = fid_vs_n(real, fake, sizes=(20, 50, 400), repeats=3)
    assert curve[20][0] > curve[50][0] > curve[400][0] > 0


def test_bootstrap_dict_statistic_and_mean_ci():
    real, fake = _gauss(80, 2), _gauss(80, 2, seed=1)
    ci = bootstrap_ci(precision_recall, real, fake, n_boot=20)
    assert set(ci) == {"precision", "recall"} and ci["precision"].low <= ci["precision"].high
    m = mean_ci(torch.tensor([1.0, 2.0, 3.0, float("nan"), 4.0]))
    assert m.value == pytest.approx(2.5) and m.low < 2.5 < m.high


def test_inception_fid_clear_error_without_torch_fidelity():
    try:
        import torch_fidelity  # noqa: F401
    except ImportError:
        with pytest.raises(RuntimeError, match="torch-fidelity"):
            inception_fid(torch.rand(4, 1, 32, 32), torch.rand(4, 1, 32, 32))
    else:
        pytest.skip("torch-fidelity installed: Inception FID is available")


# -- bad input: one test per raise ---------------------------------------------------------------


def test_too_few_samples_for_covariance():
    with pytest.raises(ValueError, match="at least 2 samples"):
        fid(_gauss(1), _gauss(10))


def test_feature_dimension_mismatch():
    with pytest.raises(ValueError, match="same feature dimension"):
        mmd(_gauss(10, 3), _gauss(10, 4))


def test_features_not_2d():
    with pytest.raises(ValueError, match=r"\(N, D\)"):
        kid(torch.zeros(10), torch.zeros(10))


def test_nan_features():
    x = _gauss(10)
    x[3, 1] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        fid(x, _gauss(10))


def test_probs_not_normalised():
    with pytest.raises(ValueError, match="softmax"):
        inception_score(torch.randn(10, 3))


def test_bad_bandwidth():
    with pytest.raises(ValueError, match="bandwidth"):
        mmd(_gauss(10), _gauss(10), bandwidth=-1.0)


def test_frechet_bad_shapes():
    with pytest.raises(ValueError, match="mu"):
        frechet_distance(torch.zeros(3), torch.eye(2), torch.zeros(3), torch.eye(3))


def test_wasserstein_empty():
    with pytest.raises(ValueError, match="empty"):
        wasserstein_1d(torch.zeros(0), torch.zeros(3))


def test_precision_recall_too_few_for_k():
    with pytest.raises(ValueError, match="at least 4"):
        precision_recall(_gauss(3), _gauss(10), k=3)


def test_memorisation_heldout_duplicates_train():
    t = _gauss(10)
    with pytest.raises(ValueError, match="duplicate"):
        memorisation(_gauss(5), t, t)


def test_bootstrap_bad_n_boot():
    with pytest.raises(ValueError, match="n_boot"):
        bootstrap_ci(fid, _gauss(10), _gauss(10), n_boot=2)


def test_fid_vs_n_sizes_out_of_range():
    with pytest.raises(ValueError, match="sizes"):
        fid_vs_n(_gauss(10), _gauss(10), sizes=(5, 50))
