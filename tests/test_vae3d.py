"""ConvVAE3D: volumes in, volumes out, the 2-D VAE's interface, and learning on phantom brains.

The learning test trains on the 14 training subjects of the 3-D brain task at 32³ and checks
the held-out reconstructions against the best subject-independent guess, the training mean
volume (measured, 300 steps x 8 volumes, one thread, ~11 s: MSE 0.0126 against 0.0165).
"""

import pytest
import torch

from medgen_nb import tasks
from medgen_nb.models import create
from medgen_nb.models.base import StepContext
from medgen_nb.models.vae import ConvVAE, ConvVAE3D
from medgen_nb.train import fit
from medgen_nb.utils import seed_everything

pytestmark = pytest.mark.usefixtures("one_thread")


def test_volumes_keep_their_shape_through_every_entry_point():
    model = create("vae3d", size=16, base_channels=4, latent_dim=3)
    assert isinstance(model, ConvVAE3D) and model.spatial_dims == 3
    x = torch.rand(2, 1, 16, 16, 16)
    mu, logvar = model.encode(x)
    assert mu.shape == logvar.shape == (2, 3)
    assert model.decode(mu).shape == x.shape
    assert model.reconstruct(x).shape == x.shape
    assert model.sample(4, generator=torch.Generator().manual_seed(0)).shape == (4, 1, 16, 16, 16)
    path = model.interpolate(x[0], x[1], steps=5)  # single volumes (C, S, S, S) are accepted
    assert path.shape == (5, 1, 16, 16, 16)
    logs = model.train_step({"image": x}, model.configure_optimizers(), StepContext(step=0))
    assert logs["loss"] == pytest.approx(logs["loss_recon"] + logs["loss_kl"], rel=1e-5)


def test_the_3d_bottleneck_is_a_4_cube_and_the_2d_vae_is_unchanged():
    flat, deep = ConvVAE(size=32, base_channels=4), ConvVAE3D(size=32, base_channels=4)
    assert flat.to_moments.in_features == 16 * 4 * 4  # widths 4, 8, 16 down to 4 x 4
    assert deep.to_moments.in_features == 16 * 4 * 4 * 4  # the same widths down to 4 x 4 x 4
    assert flat.state_dict().keys() == deep.state_dict().keys()


@pytest.mark.parametrize(
    ("x", "match"),
    [
        (torch.rand(2, 1, 16, 16), r"\(B, C, D, H, W\) tensor"),
        (torch.rand(2, 1, 16, 16, 8), "spatial size"),
        (torch.rand(2, 2, 16, 16, 16), "in_channels=1"),
        (torch.full((2, 1, 16, 16, 16), 2.0), r"\[0, 1\]"),
    ],
)
def test_wrong_volumes_are_refused_clearly(x, match):
    model = create("vae3d", size=16, base_channels=2, latent_dim=2)
    with pytest.raises(ValueError, match=match):
        model.train_step({"image": x}, model.configure_optimizers(), StepContext(step=0))


def test_it_reconstructs_held_out_brains_better_than_the_mean_volume():
    data = tasks.build(tasks.get("brain_t1w_to_t2w_3d"), size=32)
    train = data["train"].tensors()["image"].float()  # (14, 1, 32, 32, 32) T1w volumes
    test = data["test"].tensors()["image"].float()  # (3, 1, 32, 32, 32), other subjects
    seed_everything(0)
    model = create("vae3d")
    fit(model, data["train"], 300, batch_size=8, progress=False)
    mse = ((model.reconstruct(test) - test) ** 2).mean().item()
    mean_volume = ((train.mean(0, keepdim=True) - test) ** 2).mean().item()
    assert mse < 0.85 * mean_volume, (mse, mean_volume)
    samples = model.sample(8, generator=torch.Generator().manual_seed(1))
    # prior draws are brains, not noise: their mean brightness is that of the training volumes
    assert samples.mean().item() == pytest.approx(train.mean().item(), abs=0.05)
