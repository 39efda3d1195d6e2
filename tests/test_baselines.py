"""The baselines: the per-pixel intensity mapping (models) recovers known mappings and rejects bad
input; the creation VAE (evaluation) learns, is cached by its run record and keeps its recipe."""

import numpy as np
import pytest
import torch

from medgen_nb.models.baselines import IntensityMappingBaseline


def _pairs(f, n=4, size=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, size, size, generator=g)
    return x, f(x)


def test_lookup_recovers_a_non_monotone_mapping():
    # T1w -> T2w is not monotone (CSF dark -> bright, WM bright -> dark): a tent function.
    def tent(x):
        return 1 - (2 * x - 1).abs()

    x, y = _pairs(tent, n=8, size=32)
    base = IntensityMappingBaseline("lookup", n_bins=64).fit(x, y)
    x_test, y_test = _pairs(tent, seed=1)
    err = (base.translate(x_test) - y_test).abs().max().item()
    assert err < 0.04, f"lookup table error {err:.3f} on a tent mapping"


def test_lookup_is_the_conditional_mean_of_noisy_targets():
    x = torch.full((1, 1, 8, 8), 0.3)
    y = torch.zeros_like(x)
    y[..., :4] = 0.2
    y[..., 4:] = 0.6  # two target values for one source intensity: the mean is 0.4
    base = IntensityMappingBaseline("lookup", n_bins=10).fit(x, y)
    assert base.mapping(np.array([0.3]))[0] == pytest.approx(0.4, abs=1e-6)


def test_polynomial_recovers_a_quadratic_and_mask_restricts_the_fit():
    x, y = _pairs(lambda x: 0.2 + 0.5 * x**2)
    mask = torch.ones_like(x)
    y_corrupt = y.clone()
    y_corrupt[:, :, :4] = 1.0  # corrupt rows outside the mask must not affect the fit
    mask[:, :, :4] = 0
    base = IntensityMappingBaseline("polynomial", degree=2).fit(x, y_corrupt, mask=mask)
    np.testing.assert_allclose(base.coefficients, [0.5, 0.0, 0.2], atol=1e-6)
    out = base.translate(x)
    assert out.shape == x.shape and out.dtype == torch.float32
    assert base.eval() is base


@pytest.mark.parametrize("degree", [1, 3, 5])
def test_fit_in_pixel_chunks_matches_numpy_on_all_pixels_at_once(monkeypatch, degree):
    # fit() streams pixels in chunks (a QR update for the polynomial, running bin sums for the
    # table) to save memory; it must give what np.polyfit and one bincount over every pixel give.
    import medgen_nb.models.baselines as baselines

    monkeypatch.setattr(baselines, "PIXEL_CHUNK", 100)  # 1024 pixels -> 11 chunks, the last short
    x, y = _pairs(lambda x: (0.1 + x**2 + 0.2 * torch.sin(9 * x)).clamp(0, 1), n=4, size=16)
    mask = (torch.rand(x.shape, generator=torch.Generator().manual_seed(3)) > 0.3).float()
    keep = mask.numpy() > 0.5
    xs, ys = x.numpy()[keep].astype(np.float64), y.numpy()[keep].astype(np.float64)

    poly = IntensityMappingBaseline("polynomial", degree=degree).fit(x, y, mask=mask)
    np.testing.assert_allclose(poly.coefficients, np.polyfit(xs, ys, degree), rtol=1e-7, atol=1e-9)

    table = IntensityMappingBaseline("lookup", n_bins=16).fit(x, y, mask=mask)
    edges = np.linspace(0, 1, 17)
    idx = np.clip(np.digitize(xs, edges) - 1, 0, 15)
    expected = np.bincount(idx, weights=ys, minlength=16) / np.bincount(idx, minlength=16)
    np.testing.assert_allclose(table.values, expected, rtol=1e-12)


def test_polynomial_of_a_single_source_intensity_is_polyfits_minimum_norm_answer():
    x, y = (
        torch.full((1, 1, 4, 4), 0.5),
        torch.rand(1, 1, 4, 4, generator=torch.Generator().manual_seed(0)),
    )
    base = IntensityMappingBaseline("polynomial", degree=3).fit(x, y)
    with pytest.warns(np.exceptions.RankWarning):
        expected = np.polyfit(
            x.numpy().ravel().astype(np.float64), y.numpy().ravel().astype(np.float64), 3
        )
    np.testing.assert_allclose(base.coefficients, expected, rtol=1e-10)


def test_rejects_unknown_method():
    with pytest.raises(ValueError, match="method must be one of"):
        IntensityMappingBaseline("cubic")


def test_rejects_bad_n_bins():
    with pytest.raises(ValueError, match="n_bins"):
        IntensityMappingBaseline(n_bins=1)


def test_rejects_bad_degree():
    with pytest.raises(ValueError, match="degree"):
        IntensityMappingBaseline("polynomial", degree=0)


def test_rejects_non_image_source():
    with pytest.raises(ValueError, match="source must be a"):
        IntensityMappingBaseline().fit(torch.rand(4, 4), torch.rand(4, 4))


def test_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="same shape"):
        IntensityMappingBaseline().fit(torch.rand(1, 1, 4, 4), torch.rand(1, 1, 8, 8))


def test_rejects_mask_of_wrong_shape():
    with pytest.raises(ValueError, match="mask must have"):
        IntensityMappingBaseline().fit(
            torch.rand(1, 1, 4, 4), torch.rand(1, 1, 4, 4), mask=torch.ones(1, 1, 2, 2)
        )


def test_rejects_empty_mask():
    with pytest.raises(ValueError, match="at least 2"):
        IntensityMappingBaseline().fit(
            torch.rand(1, 1, 4, 4), torch.rand(1, 1, 4, 4), mask=torch.zeros(1, 1, 4, 4)
        )


def test_translate_before_fit_raises():
    with pytest.raises(ValueError, match="not fitted"):
        IntensityMappingBaseline().translate(torch.rand(1, 1, 4, 4))


# --- creation baseline: notebook 02's VAE with a matched budget ---


def _discs(n: int = 64, size: int = 16) -> torch.utils.data.TensorDataset:
    # Bright discs of random radius on a dark background: a learnable, non-trivial distribution.
    g = torch.Generator().manual_seed(0)
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    r = 3 + 4 * torch.rand(n, 1, 1, generator=g)
    d = ((yy - size / 2) ** 2 + (xx - size / 2) ** 2).sqrt()
    images = (d[None] < r).float()[:, None] * 0.9 + 0.05  # (n, 1, S, S) in [0, 1]
    return torch.utils.data.TensorDataset(images)


def test_vae_baseline_learns_and_reloads_by_its_run_record(tmp_path, monkeypatch):
    from medgen_nb.evaluation import VAE_BASELINE_CONFIG, train_vae_baseline

    data = _discs()
    real = data.tensors[0]
    kwargs = dict(size=16, batch_size=16, seed=3, device="cpu", cache=tmp_path)
    untrained = train_vae_baseline(data, steps=1, **kwargs)
    trained = train_vae_baseline(data, steps=150, **kwargs)
    assert trained.config["latent_dim"] == VAE_BASELINE_CONFIG["latent_dim"]
    assert not trained.training
    with torch.no_grad():
        err_untrained = (untrained.reconstruct(real) - real).abs().mean()
        err_trained = (trained.reconstruct(real) - real).abs().mean()
    assert err_trained < 0.5 * err_untrained, (float(err_trained), float(err_untrained))

    # The same settings load the finished run from the cache: training again would fail here.
    def no_training(*args, **kwargs):
        raise AssertionError("a cached run was trained again")

    monkeypatch.setattr("medgen_nb.evaluation.fitting.fit", no_training)
    again = train_vae_baseline(data, steps=150, **kwargs)
    pairs = zip(trained.state_dict().items(), again.state_dict().values(), strict=True)
    for (name, a), b in pairs:
        assert torch.equal(a, b), name
    samples = again.sample(4, generator=torch.Generator().manual_seed(0))
    assert samples.shape == (4, 1, 16, 16) and 0 <= samples.min() and samples.max() <= 1
    # Another seed, or other images, is another run record: it trains (here: reaches fit).
    for changed in ({"seed": 4}, {"data": _discs(32)}):
        with pytest.raises(AssertionError, match="trained again"):
            args = {**kwargs, "seed": changed.get("seed", 3)}
            train_vae_baseline(changed.get("data", data), steps=150, **args)


def test_vae_baseline_keeps_the_recipe_seed_create_fit(tmp_path):
    # Moving it onto fit_or_load must not change the weights a seed gives (notebooks 03 and 05).
    from medgen_nb.evaluation import VAE_BASELINE_CONFIG, train_vae_baseline
    from medgen_nb.models import create
    from medgen_nb.train import fit
    from medgen_nb.utils import seed_everything

    data = _discs(32)
    seed_everything(7)
    direct = create("vae", in_channels=1, size=16, **VAE_BASELINE_CONFIG)
    fit(direct, data, 5, device="cpu", batch_size=8, seed=7, progress=False)
    vae = train_vae_baseline(
        data, size=16, steps=5, batch_size=8, seed=7, device="cpu", cache=tmp_path
    )
    for (name, a), b in zip(direct.state_dict().items(), vae.state_dict().values(), strict=True):
        assert torch.equal(a, b), name


def test_vae_baseline_takes_built_task_data(tmp_path):
    from medgen_nb.evaluation import as_task_data, dataset_fingerprint

    data = _discs(8)
    task_data = as_task_data(data, 16)
    assert as_task_data(task_data, 16) is task_data
    assert task_data.record()["dataset"] == dataset_fingerprint(data)
    assert dataset_fingerprint(data) != dataset_fingerprint(_discs(9))


@pytest.mark.parametrize("field, value", [("steps", 0), ("batch_size", 2.5), ("steps", True)])
def test_vae_baseline_rejects_bad_budget(field, value):
    from medgen_nb.evaluation import train_vae_baseline

    kwargs = dict(size=16, steps=1, batch_size=4)
    kwargs[field] = value
    with pytest.raises(ValueError, match=f"{field} must be an int >= 1"):
        train_vae_baseline(_discs(8), **kwargs)


@pytest.mark.parametrize("bad, match", [([1, 2], "must be a torch Dataset"), ("empty", "empty")])
def test_vae_baseline_rejects_bad_training_set(bad, match):
    from medgen_nb.evaluation import train_vae_baseline

    data = torch.utils.data.TensorDataset(torch.zeros(0, 1, 16, 16)) if bad == "empty" else bad
    with pytest.raises(ValueError, match=match):
        train_vae_baseline(data, size=16, steps=1, batch_size=4)


def test_fingerprint_covers_labels_and_targets():
    from torch.utils.data import TensorDataset

    from medgen_nb.evaluation import dataset_fingerprint

    images = torch.rand(6, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    a = dataset_fingerprint(TensorDataset(images, torch.tensor([0, 1, 0, 1, 0, 1])))
    b = dataset_fingerprint(TensorDataset(images, torch.tensor([1, 1, 0, 1, 0, 1])))
    assert a["sha256"] != b["sha256"] and a["n"] == 6 and a["shape"] == [1, 8, 8]

    class Pairs(torch.utils.data.Dataset):
        def __init__(self, flip):
            self.flip = flip

        def __len__(self):
            return 6

        def __getitem__(self, i):
            target = images[i].flip(-1) if self.flip else images[i]
            return {"image": images[i], "target": target}

    assert dataset_fingerprint(Pairs(True))["sha256"] != dataset_fingerprint(Pairs(False))["sha256"]
