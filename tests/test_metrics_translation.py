"""Translation metrics (review Table 5) against scikit-image and torchmetrics."""

import warnings

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity
from torchmetrics.functional.image import peak_signal_noise_ratio as tm_psnr
from torchmetrics.functional.image import structural_similarity_index_measure as tm_ssim

from medgen_nb import metrics as M
from medgen_nb.data.intensity import ct_window
from medgen_nb.metrics import ct_mae_hu, mae, ms_ssim, mse, psnr, rmse, ssim, translation_report


def _smooth_pair(b=3, c=1, s=48, noise=0.08, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.nn.functional.avg_pool2d(torch.rand(b, c, s + 6, s + 6, generator=g), 7, 1)
    x = (x - x.amin()) / (x.amax() - x.amin())
    y = (x + noise * torch.randn(x.shape, generator=g)).clamp(0, 1)
    return x.double(), y.double()


def test_pixel_metrics_match_definitions():
    x, y = _smooth_pair()
    per = mae(x, y, reduction="none")
    assert per.shape == (3,)
    np.testing.assert_allclose(per, (x - y).abs().mean((1, 2, 3)))
    np.testing.assert_allclose(mse(x, y, reduction="none"), ((x - y) ** 2).mean((1, 2, 3)))
    np.testing.assert_allclose(rmse(x, y, reduction="none") ** 2, mse(x, y, reduction="none"))
    assert float(mae(x, y)) == pytest.approx(float(per.mean()))


def test_psnr_matches_skimage_and_torchmetrics():
    x, y = _smooth_pair()
    per = psnr(y, x, data_range=1.0, reduction="none")
    for i in range(3):
        ref = peak_signal_noise_ratio(x[i, 0].numpy(), y[i, 0].numpy(), data_range=1.0)
        assert float(per[i]) == pytest.approx(ref, rel=1e-10)
        assert float(per[i]) == pytest.approx(float(tm_psnr(y[i], x[i], data_range=1.0)), rel=1e-6)
    # data_range is explicit: HU images scored with the window width, not their own max
    hu = psnr(y * 3000 - 1000, x * 3000 - 1000, data_range=3000.0)
    assert float(hu) == pytest.approx(float(per.mean()), rel=1e-9)


@pytest.mark.parametrize("c", [1, 2])
def test_ssim_matches_skimage(c):
    x, y = _smooth_pair(b=2, c=c)
    per = ssim(y, x, data_range=1.0, reduction="none")
    for i in range(2):
        ref = structural_similarity(
            x[i].numpy(), y[i].numpy(), data_range=1.0, gaussian_weights=True, sigma=1.5,
            use_sample_covariance=False, channel_axis=0,
        )  # fmt: skip
        assert float(per[i]) == pytest.approx(ref, abs=1e-5)  # float32 convolutions
    scaled = ssim(3000 * y, 3000 * x, data_range=3000.0, reduction="none")  # c1, c2 scale too
    np.testing.assert_allclose(scaled, per, atol=1e-6)


def test_ssim_map_interior_matches_torchmetrics():
    x, y = _smooth_pair(b=2)
    # torchmetrics averages over reflect-padded borders too; on the interior the maps agree
    _, full = tm_ssim(y, x, data_range=1.0, return_full_image=True, reduction="none")
    ours = ssim(y, x, data_range=1.0, reduction="none")
    np.testing.assert_allclose(ours, full[..., 5:-5, 5:-5].mean((1, 2, 3)), atol=1e-5)
    assert float(ssim(x, x, data_range=1.0)) == pytest.approx(1.0)


def test_masked_metrics_equal_metrics_on_the_crop():
    x, y = _smooth_pair(b=2, s=64)
    mask = torch.zeros(2, 1, 64, 64)
    mask[:, :, 10:50, 20:60] = 1
    crop = (slice(None), slice(None), slice(10, 50), slice(20, 60))
    for fn in (mae, mse, rmse):
        np.testing.assert_allclose(
            fn(y, x, mask=mask, reduction="none"), fn(y[crop], x[crop], reduction="none")
        )
    for fn in (psnr, ssim):
        np.testing.assert_allclose(
            fn(y, x, data_range=1.0, mask=mask, reduction="none"),
            fn(y[crop], x[crop], data_range=1.0, reduction="none"),
            rtol=1e-6,
        )


def _volume_pair(b=2, shape=(20, 24, 28), noise=0.1, seed=0):
    g = np.random.default_rng(seed)
    x = g.random((b, 1, *shape))
    return x, np.clip(x + noise * g.standard_normal(x.shape), 0, 1)


def test_volume_ssim_matches_skimage_in_3d():
    # skimage's SSIM is n-dimensional: the same Gaussian window (11 taps, sigma 1.5) along 3 axes
    x, y = _volume_pair()
    ours = ssim(torch.tensor(y), torch.tensor(x), data_range=1.0, reduction="none")
    ref = [
        structural_similarity(
            y[i, 0], x[i, 0], data_range=1.0, gaussian_weights=True, sigma=1.5,
            use_sample_covariance=False,
        )
        for i in range(len(x))
    ]  # fmt: skip
    np.testing.assert_allclose(ours, ref, atol=1e-5)
    assert float(ssim(torch.tensor(x), torch.tensor(x), data_range=1.0)) == pytest.approx(1.0)


def test_volume_metrics_are_per_volume_and_masked_like_a_crop():
    x, y = (torch.tensor(a) for a in _volume_pair(shape=(24, 26, 30)))
    flat = ((y - x) ** 2).flatten(1).mean(1)
    np.testing.assert_allclose(mse(y, x, reduction="none"), flat)
    np.testing.assert_allclose(psnr(y, x, data_range=1.0, reduction="none"), -10 * np.log10(flat))
    mask = torch.zeros(2, 24, 26, 30, dtype=torch.bool)  # (B, D, H, W) is broadcast
    mask[:, 2:22, 3:25, 1:29] = True
    crop = (slice(None), slice(None), slice(2, 22), slice(3, 25), slice(1, 29))
    for fn in (mae, mse):
        np.testing.assert_allclose(
            fn(y, x, mask=mask, reduction="none"), fn(y[crop], x[crop], reduction="none")
        )
    for fn in (psnr, ssim):
        np.testing.assert_allclose(
            fn(y, x, data_range=1.0, mask=mask, reduction="none"),
            fn(y[crop], x[crop], data_range=1.0, reduction="none"),
            rtol=1e-6,
        )
    with pytest.raises(ValueError, match=r"\(B, 1, D, H, W\)"):
        mae(y, x, mask=mask[:, :, :, :10])
    with pytest.raises(ValueError, match="ssim\\(\\), which works in 3-D"):
        ms_ssim(y, x, data_range=1.0)


def test_ms_ssim_orders_noise_levels():
    x, y1 = _smooth_pair(b=1, s=96, noise=0.02)
    _, y2 = _smooth_pair(b=1, s=96, noise=0.2)
    betas = (0.0448, 0.2856, 0.3001)
    assert float(ms_ssim(x, x, data_range=1.0, betas=betas)) == pytest.approx(1.0)
    assert ms_ssim(y1, x, data_range=1.0, betas=betas) > ms_ssim(y2, x, data_range=1.0, betas=betas)


def test_ct_mae_hu_by_tissue():
    hu = torch.full((1, 1, 8, 8), 40.0, dtype=torch.float64)  # soft tissue
    hu[..., :2, :] = 1000.0  # bone
    pred = hu.clone()
    pred[..., :2, :] += 300.0  # error only in bone
    pred[..., 4:, :] += 30.0  # and some in soft tissue
    win = ct_window()
    out = ct_mae_hu(win.forward(pred), win.forward(hu), intensity=win, reduction="none")
    assert float(out["bone"][0]) == pytest.approx(300.0)
    assert float(out["soft_tissue"][0]) == pytest.approx(30.0 * 32 / 48)
    assert float(out["all"][0]) == pytest.approx((300 * 16 + 30 * 32) / 64)
    direct = ct_mae_hu(pred, hu)  # reduction="mean", the default of every paired metric
    assert direct["all"].shape == () and float(direct["all"]) == pytest.approx(float(out["all"][0]))
    no_bone = ct_mae_hu(pred[..., 4:, :], hu[..., 4:, :], reduction="none")
    assert torch.isnan(no_bone["bone"][0])


def test_report_keys():
    x, y = _smooth_pair()
    rep = translation_report(y, x, data_range=1.0)
    assert set(rep) == {"mae", "mse", "rmse", "psnr", "ssim"} and all(
        v.shape == (3,) for v in rep.values()
    )


# -- bad input: one test per raise ---------------------------------------------------------------


def test_shape_mismatch():
    with pytest.raises(ValueError, match="same shape"):
        mae(torch.zeros(1, 1, 8, 8), torch.zeros(1, 1, 8, 9))


def test_not_bchw():
    with pytest.raises(ValueError, match=r"\(B, C, H, W\) or volumes \(B, C, D, H, W\)"):
        mae(torch.zeros(8, 8), torch.zeros(8, 8))


def test_nan_input():
    x = torch.zeros(1, 1, 8, 8)
    x[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        mse(x, torch.zeros(1, 1, 8, 8))


def test_empty_mask():
    with pytest.raises(ValueError, match="mask is empty"):
        mae(torch.zeros(2, 1, 8, 8), torch.zeros(2, 1, 8, 8), mask=torch.zeros(2, 1, 8, 8))


def test_non_binary_mask():
    with pytest.raises(ValueError, match="binary"):
        mae(torch.zeros(1, 1, 8, 8), torch.zeros(1, 1, 8, 8), mask=torch.full((1, 1, 8, 8), 0.5))


def test_mask_shape():
    with pytest.raises(ValueError, match="mask must be"):
        mae(torch.zeros(1, 1, 8, 8), torch.zeros(1, 1, 8, 8), mask=torch.ones(1, 1, 4, 4))


def test_data_range_required_and_positive():
    x = torch.zeros(1, 1, 8, 8)
    with pytest.raises(TypeError):
        psnr(x, x)  # keyword-only, no default
    with pytest.raises(ValueError, match="data_range"):
        psnr(x, x, data_range=0.0)


def test_bad_reduction():
    with pytest.raises(ValueError, match="reduction"):
        mae(torch.zeros(1, 1, 8, 8), torch.zeros(1, 1, 8, 8), reduction="sum")


def test_ssim_image_too_small():
    with pytest.raises(ValueError, match="too small"):
        ssim(torch.zeros(1, 1, 8, 8), torch.zeros(1, 1, 8, 8), data_range=1.0)


def test_ssim_mask_too_thin():
    mask = torch.zeros(1, 1, 32, 32)
    mask[..., 10:14, :] = 1
    with pytest.raises(ValueError, match="SSIM window"):
        ssim(torch.rand(1, 1, 32, 32), torch.rand(1, 1, 32, 32), data_range=1.0, mask=mask)


def test_ssim_even_kernel():
    with pytest.raises(ValueError, match="kernel_size"):
        ssim(torch.rand(1, 1, 32, 32), torch.rand(1, 1, 32, 32), data_range=1.0, kernel_size=4)


def test_ms_ssim_too_small():
    with pytest.raises(ValueError, match="fewer betas"):
        ms_ssim(torch.rand(1, 1, 64, 64), torch.rand(1, 1, 64, 64), data_range=1.0)


def test_ct_unit_images_without_map():
    with pytest.raises(ValueError, match="intensity=ct_window"):
        ct_mae_hu(torch.rand(1, 1, 8, 8), torch.rand(1, 1, 8, 8))


def test_ct_wrong_range_with_map():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        ct_mae_hu(torch.full((1, 1, 8, 8), 5.0), torch.rand(1, 1, 8, 8), intensity=ct_window())


def test_ct_non_hu_map():
    from medgen_nb.data.intensity import pet_suv

    with pytest.raises(ValueError, match="HU"):
        ct_mae_hu(torch.rand(1, 1, 8, 8), torch.rand(1, 1, 8, 8), intensity=pet_suv())


def test_ct_bad_soft_tissue_range():
    with pytest.raises(ValueError, match="soft_tissue_hu"):
        ct_mae_hu(
            torch.zeros(1, 1, 8, 8) - 500, torch.zeros(1, 1, 8, 8) - 500, soft_tissue_hu=(100, -100)
        )


# -- data_range against the values' span (issue 12, item 5a) --------------------------------------


def _u8_pair():
    x, y = _smooth_pair(b=2, s=24)
    return (y * 255).round().to(torch.uint8), (x * 255).round().to(torch.uint8)


@pytest.mark.parametrize(
    "metric",
    [
        lambda p, t, dr: psnr(p, t, data_range=dr),
        lambda p, t, dr: ssim(p, t, data_range=dr),
        lambda p, t, dr: M.ssim_map(p, t, data_range=dr),
        lambda p, t, dr: translation_report(p, t, data_range=dr),
    ],
    ids=["psnr", "ssim", "ssim_map", "translation_report"],
)
def test_target_wider_than_data_range_is_refused(metric):
    p, t = _u8_pair()  # 0-255 with data_range=1: PSNR was -40 dB
    with pytest.raises(ValueError, match=r"target spans 2\d\d .*data_range=1"):
        metric(p, t, 1.0)
    x, y = _smooth_pair(b=2, s=24)
    with pytest.raises(ValueError, match=r"target spans 3 .*data_range=1"):
        metric(3 * y - 1, 3 * x - 1, 1.0)  # values in [-1, 2]: PSNR was -1.8 dB


def test_ms_ssim_target_wider_than_data_range_is_refused():
    x, y = _smooth_pair(b=1, s=48)
    with pytest.raises(ValueError, match="target spans 3000"):
        ms_ssim(3000 * y, 3000 * x, data_range=1.0, betas=(0.0448, 0.2856, 0.3001))


def test_predictions_in_other_units_are_refused():
    x, y = _smooth_pair(b=2, s=24)
    with pytest.raises(ValueError, match=r"preds span 255 .*same units"):
        psnr(255 * y, x, data_range=1.0)


def test_predictions_far_outside_the_range_warn():
    x, _ = _smooth_pair(b=2, s=24)
    with pytest.warns(M.DataRangeWarning, match=r"preds span 2 .*\(x \+ 1\) / 2"):
        value = psnr(2 * x - 1, x, data_range=1.0)  # a tanh output not mapped back to [0, 1]
    per_image = 10 * torch.log10(1 / ((x - 1) ** 2).flatten(1).mean(1))
    assert float(value) == pytest.approx(float(per_image.mean()))


def test_valid_ranges_pass_silently_and_unchanged():
    x, y = _smooth_pair(b=2, s=24)
    over = y + 0.1 * (y - 0.5)  # an unclipped prediction in [-0.05, 1.05]
    dim = 0.2 * x  # a dim slice on the fixed [0, 1] scale
    own = float(x[:1].max() - x[:1].min())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = [
            psnr(over, x, data_range=1.0, reduction="none"),
            psnr(0.2 * y, dim, data_range=1.0, reduction="none"),
            psnr(y[:1], x[:1], data_range=own, reduction="none"),  # the target's own range
            ssim(over, x, data_range=1.0, reduction="none"),
            psnr(3000 * y - 1000, 3000 * x - 1000, data_range=3000.0, reduction="none"),
        ]
    mse_ = lambda p, t: ((p - t) ** 2).flatten(1).mean(1)  # noqa: E731
    torch.testing.assert_close(got[0], 10 * torch.log10(1 / mse_(over, x)), rtol=0, atol=0)
    torch.testing.assert_close(got[1], 10 * torch.log10(1 / mse_(0.2 * y, dim)), rtol=0, atol=0)
    torch.testing.assert_close(got[2], 10 * torch.log10(own**2 / mse_(y[:1], x[:1])))
    ref = structural_similarity(over[0, 0].numpy(), x[0, 0].numpy(), data_range=1.0,
                                gaussian_weights=True, sigma=1.5, use_sample_covariance=False)  # fmt: skip
    assert float(got[3][0]) == pytest.approx(ref, abs=1e-5)
    torch.testing.assert_close(got[4], psnr(y, x, data_range=1.0, reduction="none"))


# -- data_range as a numpy or torch scalar (issue 12, item 10) ------------------------------------


@pytest.mark.parametrize(
    "dr",
    [np.float32(1.0), np.float64(1.0), np.int64(1), torch.tensor(1.0), torch.tensor([1.0])],
    ids=["np.float32", "np.float64", "np.int64", "tensor", "tensor[1]"],
)
def test_scalar_data_range_types_are_accepted(dr):
    x, y = _smooth_pair(b=2, s=24)
    assert float(psnr(y, x, data_range=dr)) == float(psnr(y, x, data_range=1.0))
    assert float(ssim(y, x, data_range=dr)) == float(ssim(y, x, data_range=1.0))


@pytest.mark.parametrize(
    ("dr", "match"),
    [
        (np.array([1.0, 2.0]), r"one positive number, got an array of shape \(2,\)"),
        (torch.tensor(float("inf")), "positive finite"),
        (np.float64(0.0), "positive finite"),
        (torch.tensor(-1.0), "positive finite"),
        (True, "got True of type bool"),
        (np.bool_(True), "type bool"),
        ("1.0", "got '1.0' of type str"),
    ],
    ids=["array", "inf", "zero", "negative", "bool", "np.bool_", "str"],
)
def test_bad_data_range_values_are_refused(dr, match):
    x, y = _smooth_pair(b=1, s=24)
    with pytest.raises(ValueError, match=match):
        psnr(y, x, data_range=dr)


# -- CT MAE with the two sides in different units (issue 12, item 5c) -----------------------------


def test_ct_predictions_in_unit_range_against_hu_target_are_refused():
    win = ct_window()
    hu = win.inverse(_smooth_pair(b=2, s=16)[0])
    with pytest.raises(ValueError, match=r"preds lie in \[0, 1\].*spans 3000 HU.*to_hu"):
        ct_mae_hu(win.forward(hu), hu)  # was 829-ish HU, silently
    with pytest.raises(ValueError, match="one unit"):
        ct_mae_hu(2 * win.forward(hu) - 1, hu)  # [-1, 1] network output


def test_ct_hu_predictions_still_scored():
    win = ct_window()
    hu = win.inverse(_smooth_pair(b=2, s=16)[0])
    assert float(ct_mae_hu(hu + 25.0, hu, reduction="mean")["all"]) == pytest.approx(25.0)
    water = torch.zeros_like(hu)  # a constant 0 HU baseline lies in [0, 1] but is HU
    assert float(ct_mae_hu(water, hu, reduction="mean")["all"]) == pytest.approx(
        float(hu.abs().mean())
    )


def test_ssim_of_a_large_batch_is_computed_in_chunks_with_the_same_values():
    from medgen_nb.metrics import ssim
    from medgen_nb.metrics.translation import SSIM_CHUNK

    g = torch.Generator().manual_seed(0)
    n = 2 * SSIM_CHUNK + 5  # three chunks, the last one short
    x, y = torch.rand(n, 1, 24, 24, generator=g), torch.rand(n, 1, 24, 24, generator=g)
    mask = torch.zeros(n, 1, 24, 24, dtype=torch.bool)
    for i in range(n):  # a 14 px square at a different place in each image
        o = i % 9
        mask[i, :, o : o + 14, 9 - o : 23 - o] = True
    whole = ssim(x, y, data_range=1.0, mask=mask, reduction="none")
    one_by_one = torch.cat(
        [
            ssim(x[i : i + 1], y[i : i + 1], data_range=1.0, mask=mask[i : i + 1], reduction="none")
            for i in range(n)
        ]
    )
    assert whole.shape == (n,) and torch.allclose(whole, one_by_one, atol=1e-12)
