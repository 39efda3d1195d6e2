"""The CUDA code paths, on a GPU: every test here is marked ``cuda`` and skipped without one.

``benchmarks/gpu_check.sh`` runs them (``pytest -m cuda``) on a GPU machine. What they cover:
the training loop on CUDA in each precision (bf16 autocast, fp16 with a GradScaler, fp32) with
pinned memory and non-blocking copies, CUDA RNG state in checkpoints (resume equals an
uninterrupted run), models, samplers, metrics, feature extraction, the DRR and tiled 3-D
prediction on the GPU against the CPU, 3-D diffusion and VAE on the GPU, the channels-last
default and ``torch.compile`` (which must compile there, not fall back).
"""

import warnings

import pytest
import torch
from torch.utils.data import Dataset

from medgen_nb.checkpoint import load_checkpoint
from medgen_nb.data.drr import drr
from medgen_nb.evaluation import predict
from medgen_nb.metrics import psnr, ssim
from medgen_nb.metrics.features import default_feature_net, extract_features
from medgen_nb.models import create
from medgen_nb.train import fit
from medgen_nb.utils import pick_device

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]


class Pairs(Dataset):
    """Fixed paired images (or volumes) in [0, 1]."""

    def __init__(self, n: int = 16, shape: tuple[int, ...] = (1, 16, 16)) -> None:
        g = torch.Generator().manual_seed(0)
        self.image = torch.rand(n, *shape, generator=g)
        self.target = 1.0 - self.image

    def __len__(self) -> int:
        return len(self.image)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"image": self.image[i], "target": self.target[i]}


def tiny_pix2pix():
    torch.manual_seed(0)
    return create("pix2pix", size=16, base_channels=4, depth=3)


def test_auto_picks_the_gpu():
    assert pick_device("auto").type == "cuda"


@pytest.mark.parametrize("precision", ["fp32", "bf16", "fp16"])
def test_fit_trains_on_cuda_in_each_precision(precision, tmp_path):
    if precision == "bf16" and not torch.cuda.is_bf16_supported():
        pytest.skip("this GPU has no bf16")
    model = tiny_pix2pix()
    history = fit(
        model, Pairs(), 6, device="cuda", batch_size=4, precision=precision, progress=False,
        checkpoint_dir=tmp_path,
    )  # fmt: skip
    assert next(model.parameters()).device.type == "cuda"
    assert history.steps_done == 6
    assert all(torch.isfinite(torch.tensor(v)) for v in history.recent_mean(6).values())
    on_cpu = load_checkpoint(tmp_path)  # a GPU checkpoint loads on the CPU
    assert next(on_cpu.parameters()).device.type == "cpu"


def test_a_resumed_cuda_run_equals_an_uninterrupted_one(tmp_path):
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    whole = tiny_pix2pix()
    fit(whole, Pairs(), 6, device="cuda", batch_size=4, precision="fp32", progress=False)
    parts = tiny_pix2pix()
    kwargs = dict(device="cuda", batch_size=4, precision="fp32", progress=False,
                  checkpoint_dir=tmp_path, checkpoint_every=3)  # fmt: skip
    fit(parts, Pairs(), 3, **kwargs)
    resumed = tiny_pix2pix()
    fit(resumed, Pairs(), 6, **kwargs)  # continues from step 3, with the stored CUDA RNG state
    for a, b in zip(whole.state_dict().values(), resumed.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_translation_and_sampling_on_cuda():
    model = tiny_pix2pix().eval()
    x = Pairs(4).image
    on_cpu = predict(model, x)
    on_gpu = predict(model.cuda(), x)
    torch.testing.assert_close(on_gpu, on_cpu, rtol=1e-4, atol=1e-4)
    torch.manual_seed(0)
    ddpm = create("ddpm", size=16, base_channels=8, channel_mults=(1, 2), timesteps=20).cuda()
    first = predict(ddpm, n=4, seed=3, steps=5, sampler="ddim")
    again = predict(ddpm, n=4, seed=3, steps=5, sampler="ddim")
    assert first.shape == (4, 1, 16, 16) and torch.equal(first, again)  # seeded on the GPU


def test_tiled_3d_prediction_on_cuda_matches_the_cpu():
    torch.manual_seed(0)
    model = create("pix2pix3d", size=16, base_channels=2, depth=3).eval()
    volumes = torch.rand(1, 1, 24, 24, 24)
    on_cpu = predict(model, volumes)
    on_gpu = predict(model.cuda(), volumes)
    torch.testing.assert_close(on_gpu, on_cpu, rtol=1e-4, atol=1e-4)


def test_3d_diffusion_and_vae_on_cuda():
    torch.manual_seed(0)
    ddpm = create("ddpm3d", size=8, base_channels=8, channel_mults=(1, 2), cond_channels=1)
    fit(ddpm, Pairs(8, (1, 8, 8, 8)), 2, device="cuda", batch_size=4, progress=False)
    volumes = Pairs(1, (1, 12, 12, 12)).image
    first = predict(ddpm, volumes, steps=4, seed=1)  # tiles of 8³, one seeded GPU stream
    assert first.shape == volumes.shape and torch.equal(
        first, predict(ddpm, volumes, steps=4, seed=1)
    )
    vae = create("vae3d", size=16, base_channels=2, latent_dim=4)
    fit(vae, Pairs(8, (1, 16, 16, 16)), 2, device="cuda", batch_size=4, progress=False)
    assert predict(vae, n=3, seed=0).shape == (3, 1, 16, 16, 16)


def test_channels_last_is_the_cuda_default_and_changes_no_arithmetic():
    runs = {}
    for layout in (None, False):  # None: the default, channels-last on CUDA
        torch.manual_seed(0)
        model = create("pix2pix", size=16, base_channels=4, depth=3, dropout=0.0)
        fit(model, Pairs(), 4, device="cuda", batch_size=4, precision="fp32", progress=False,
            channels_last=layout)  # fmt: skip
        runs[layout] = model
    convs = [p for p in runs[None].parameters() if p.ndim == 4]
    assert all(p.is_contiguous(memory_format=torch.channels_last) for p in convs)
    for a, b in zip(
        runs[None].state_dict().values(), runs[False].state_dict().values(), strict=True
    ):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-4)  # cuDNN may pick other kernels


def test_compiled_training_on_cuda_matches_eager():
    runs = {}
    for compiled in (True, False):
        torch.manual_seed(0)
        model = create("pix2pix", size=16, base_channels=4, depth=3, dropout=0.0)
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)  # a fall-back to eager would warn
            fit(model, Pairs(), 4, device="cuda", batch_size=4, precision="fp32", progress=False,
                torch_compile=compiled)  # fmt: skip
        runs[compiled] = model
    for a, b in zip(
        runs[True].state_dict().values(), runs[False].state_dict().values(), strict=True
    ):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-4)


def test_metrics_and_features_accept_gpu_tensors():
    g = torch.Generator().manual_seed(0)
    a = torch.rand(2, 1, 64, 64, generator=g)
    b = (a + 0.05 * torch.rand(2, 1, 64, 64, generator=g)).clamp(0, 1)
    for fn in (psnr, ssim):
        torch.testing.assert_close(
            fn(b.cuda(), a.cuda(), data_range=1.0), fn(b, a, data_range=1.0), rtol=1e-6, atol=1e-6
        )
    net = default_feature_net()
    cpu = extract_features(a, net)
    gpu = extract_features(a, net.cuda())
    torch.testing.assert_close(gpu, cpu, rtol=1e-3, atol=1e-4)


def test_drr_on_cuda_matches_the_cpu():
    g = torch.Generator().manual_seed(0)
    mu = torch.rand(32, 32, 32, generator=g) * 0.02
    for geometry in ("parallel", "cone"):
        cpu = drr(mu, (2.0, 2.0, 2.0), geometry, size=32)
        gpu = drr(mu.cuda(), (2.0, 2.0, 2.0), geometry, size=32)
        assert gpu.device.type == "cuda"
        torch.testing.assert_close(gpu.cpu(), cpu, rtol=1e-4, atol=1e-4)
