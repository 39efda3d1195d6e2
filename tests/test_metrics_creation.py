"""Creation metrics (review Table 1) against closed forms, scipy and torchmetrics."""

import warnings

import numpy as np
import pytest
import torch
from scipy.stats import wasserstein_distance

from medgen_nb import metrics as M
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
    ours = fid(real.flatten(1), fake.flatten(1), warn_small_n=False)  # N = 50 < 5 x 16 on purpose
    assert ours == pytest.approx(float(tm.compute()), rel=1e-4)
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
    assert mode_score(real=balanced, fake=balanced) == pytest.approx(inception_score(balanced))
    skewed_real = torch.eye(k)[[0] * 30 + [1, 2, 3] * 3 + [1]]
    assert mode_score(real=skewed_real, fake=balanced) < inception_score(balanced)


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
    fresh = memorisation(train, _gauss(100, 4, seed=2), heldout=heldout)
    copies = memorisation(train, train[:100] + 0.01 * _gauss(100, 4, seed=3), heldout=heldout)
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
        memorisation(t, _gauss(5), heldout=t)


def test_bootstrap_bad_n_boot():
    with pytest.raises(ValueError, match="n_boot"):
        bootstrap_ci(fid, _gauss(10), _gauss(10), n_boot=2)


def test_fid_vs_n_sizes_out_of_range():
    with pytest.raises(ValueError, match="sizes"):
        fid_vs_n(_gauss(10), _gauss(10), sizes=(5, 50))


# -- Frechet distance and MMD inputs (issue 12, item 5d) ------------------------------------------


def test_frechet_distance_refuses_a_non_psd_covariance():
    c = torch.tensor([[1.0, 2.0], [2.0, 1.0]], dtype=torch.float64)  # eigenvalues 3 and -1
    with pytest.raises(ValueError, match=r"cov1 is not positive semi-definite.*eigenvalue is -1"):
        frechet_distance(torch.zeros(2), c, torch.zeros(2), c)
    with pytest.raises(ValueError, match="cov2 is not positive semi-definite"):
        frechet_distance(torch.zeros(2), torch.eye(2), torch.zeros(2), -torch.eye(2))


def test_frechet_distance_refuses_an_asymmetric_covariance():
    c = torch.tensor([[1.0, 0.9], [0.0, 1.0]], dtype=torch.float64)
    with pytest.raises(ValueError, match="cov1 is not symmetric"):
        frechet_distance(torch.zeros(2), c, torch.zeros(2), torch.eye(2))


@pytest.mark.parametrize("name", ["mu1", "cov1", "mu2", "cov2"])
def test_frechet_distance_refuses_nan_and_inf(name):
    args = {
        "mu1": torch.zeros(2),
        "cov1": torch.eye(2),
        "mu2": torch.zeros(2),
        "cov2": torch.eye(2),
    }
    args[name] = args[name].clone()
    args[name].view(-1)[0] = float("nan") if name.startswith("mu") else float("inf")
    with pytest.raises(ValueError, match=f"{name} contains 1 NaN or infinite"):
        frechet_distance(**args)


def test_frechet_distance_accepts_rank_deficient_and_float32_covariances():
    # N < D sample covariances are singular (eigenvalues ~ -1e-16); float32 ones round further
    x, y = _gauss(5, 12, seed=4), _gauss(5, 12, shift=0.5, seed=5)
    exact = frechet_distance(x.mean(0), torch.cov(x.T), y.mean(0), torch.cov(y.T))
    x32, y32 = x.float(), y.float()
    rounded = frechet_distance(x32.mean(0), torch.cov(x32.T), y32.mean(0), torch.cov(y32.T))
    assert rounded == pytest.approx(exact, rel=1e-4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert fid(x, y, warn_small_n=False) == exact  # fid is this distance, bit for bit


@pytest.mark.parametrize("bandwidth", [float("inf"), float("nan"), 0.0, True, np.array([1.0, 2.0])])
def test_mmd_refuses_a_bandwidth_that_is_not_a_positive_finite_number(bandwidth):
    with pytest.raises(ValueError, match="bandwidth must be"):
        mmd(_gauss(20, 3), _gauss(20, 3, shift=3, seed=1), bandwidth=bandwidth)  # inf gave 0.0


def test_mmd_accepts_numpy_and_tensor_bandwidths():
    real, fake = _gauss(20, 3), _gauss(20, 3, shift=1, seed=1)
    ref = mmd(real, fake, bandwidth=2.0)
    assert mmd(real, fake, bandwidth=np.float32(2.0)) == ref
    assert mmd(real, fake, bandwidth=torch.tensor(2.0)) == ref


# -- infinite values in confidence intervals (issue 12, item 5e) ----------------------------------


def test_mean_ci_refuses_infinite_values():
    with pytest.raises(
        ValueError, match=r"per_item contains 2 infinite value\(s\) \(of 6\).*clamp"
    ):
        mean_ci(
            torch.tensor([7.0, 8.0, float("inf"), 9.0, -float("inf"), 8.5])
        )  # was inf [7.7, nan]


def test_bootstrap_ci_refuses_infinite_samples_and_statistics():
    x = torch.tensor([1.0, 2.0, float("inf"), 3.0, 4.0])
    with pytest.raises(ValueError, match=r"real contains 1 infinite value"):
        bootstrap_ci(lambda s: float(s.mean()), x, n_boot=20)
    with pytest.raises(ValueError, match=r"fake contains 1 infinite value"):
        bootstrap_ci(
            lambda real, fake: float(real.mean() - fake.mean()), x.isfinite().double(), x, n_boot=20
        )
    with pytest.raises(ValueError, match="statistic is inf on the full sample"):
        bootstrap_ci(lambda s: float(1 / s.min()), torch.arange(5.0), n_boot=20)
    # finite on the full sample, inf on the resamples that draw only zeros
    ratio = lambda s: float(s[:, 0].mean() / s[:, 1].mean())  # noqa: E731
    pairs = torch.tensor([[1.0, 1.0], [1.0, 0.0], [1.0, 0.0]])
    with pytest.raises(ValueError, match=r"NaN or inf in \d+ of 200 bootstrap resamples"):
        bootstrap_ci(ratio, pairs, n_boot=200)
    bad_key = lambda s: {"ok": float(s.mean()), "ratio": ratio(s)}  # noqa: E731
    with pytest.raises(ValueError, match=r"statistic\['ratio'\] is NaN or inf"):
        bootstrap_ci(bad_key, pairs, n_boot=200)


def test_intervals_of_finite_values_are_unchanged():
    v = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], dtype=torch.float64)
    m = mean_ci(v, n_boot=200, seed=3)
    draws = v.numpy()[np.random.default_rng(3).integers(0, 6, (200, 6))].mean(1)
    tail = (1 - 0.95) / 2 * 100  # as bootstrap computes it (2.4999...)
    assert (m.value, m.low, m.high) == (3.5, *np.nanpercentile(draws, [tail, 100 - tail]))


# -- FID below the documented sample size (issue 12, item 5f) -------------------------------------


def test_fid_warns_below_five_samples_per_feature_dimension():
    real, fake = _gauss(10, 128), _gauss(10, 128, seed=1)
    with pytest.warns(M.SmallSampleWarning, match=r"N = 10 real and 10 fake .*D = 128.* = 640"):
        value = fid(real, fake)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert fid(real, fake, warn_small_n=False) == value  # opt out: same number, no warning
        fid(_gauss(40, 8), _gauss(41, 8, seed=1))  # N = 40 = 5 x 8: at the minimum, quiet
    with pytest.warns(M.SmallSampleWarning, match="N = 40 real and 39 fake"):
        fid(_gauss(40, 8), _gauss(39, 8, seed=1))  # the smaller set counts


def test_small_sample_warning_is_a_user_warning_said_once_per_bootstrap():
    assert issubclass(M.SmallSampleWarning, UserWarning)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        bootstrap_ci(fid, _gauss(12, 4), _gauss(12, 4, seed=1), n_boot=10)
    assert [type(w.message) for w in caught] == [M.SmallSampleWarning]


def test_fid_vs_n_studies_small_n_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        curve = fid_vs_n(_gauss(60, 8), _gauss(60, 8, seed=1), sizes=(4, 10), repeats=2)
    assert set(curve) == {4, 10}


# -- one calling convention (issue 13, item 6) ----------------------------------------------------


def test_mode_score_takes_real_and_fake_by_keyword_only():
    real, fake = torch.eye(3).repeat(5, 1), torch.eye(3)[[0] * 15]
    with pytest.raises(TypeError, match="positional"):
        mode_score(fake, real)  # the old (fake, real) order: same shapes, silently swapped
    # not symmetric: the histogram penalty is KL(p(y) || p(y*)) with p(y*) from the real set
    assert mode_score(real=real, fake=fake) != pytest.approx(mode_score(real=fake, fake=real))


def test_memorisation_takes_heldout_by_keyword_so_the_old_order_fails():
    train, fake = _gauss(30, 4), _gauss(20, 4, seed=1)
    with pytest.raises(TypeError, match="positional"):
        memorisation(fake, train, _gauss(20, 4, seed=2))  # the old (generated, train, heldout)


def test_bootstrap_calls_two_sample_statistics_with_real_and_fake_by_name():
    calls = []

    def statistic(*, real, fake):
        calls.append((len(real), len(fake)))
        return float(real.mean() - fake.mean())

    bootstrap_ci(statistic, _gauss(12), _gauss(8, seed=1), n_boot=10)
    assert calls[0] == (12, 8) and set(calls[1:]) == {(6, 4)}
    ci = bootstrap_ci(mode_score, torch.eye(3).repeat(6, 1), torch.eye(3)[[0, 1] * 9], n_boot=10)
    assert ci.low <= ci.value <= ci.high


def test_interval_formats_all_three_numbers_with_one_spec():
    from medgen_nb.metrics import Interval

    iv = Interval(21.0712, 20.5051, 21.6049, 0.95, 1000)
    assert f"{iv:.2f}" == "21.07 [20.51, 21.60]"
    assert f"{iv}" == str(iv) == "21.07 [20.51, 21.6] (95% CI)"
