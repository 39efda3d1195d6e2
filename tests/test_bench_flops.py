"""The FLOP count behind bench_models' model-FLOP utilisation is the textbook count.

For a linear layer y = x W^T, one training step costs 2*B*I*O FLOPs forward and twice that
backward (gradients for the input and the weight); an MFU built on a wrong count would be wrong by
the same factor.
"""

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import bench_models  # noqa: E402


class OneLinear(torch.nn.Module):
    """The train_step contract of medgen_nb.models with a single bias-free linear layer."""

    def __init__(self, i: int, o: int) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(i, o, bias=False)

    def configure_optimizers(self):
        return {"opt": torch.optim.SGD(self.parameters(), lr=0.1)}

    def train_step(self, batch, opts, ctx):
        opts["opt"].zero_grad()
        loss = self.layer(batch["image"]).square().mean()
        loss.backward()
        opts["opt"].step()
        return {"loss": float(loss)}


def test_step_flops_counts_forward_and_backward_of_a_linear_layer():
    b, i, o = 8, 32, 16
    flops = bench_models.step_flops(OneLinear(i, o), {"image": torch.randn(b, i)})
    # Forward 2BIO; backward: grad wrt the weight 2BIO (the input needs no gradient here).
    assert flops == 2 * b * i * o + 2 * b * i * o


def test_step_flops_of_a_package_model_grow_linearly_with_the_batch():
    # The counter sees the package's convolutions (not zero) and counts per image.
    from medgen_nb.models import create

    def flops(n: int) -> int:
        torch.manual_seed(0)
        return bench_models.step_flops(
            create("vae", **bench_models.LAB_CONFIGS["vae"]), bench_models._batch(n)
        )

    assert flops(2) > 1e7
    assert flops(4) == 2 * flops(2)


def test_every_registered_model_has_a_lab_config_of_its_dimension():
    import importlib

    from medgen_nb.models import FAMILIES, create

    families = [importlib.import_module(f"medgen_nb.models.{f}").MODELS for f in FAMILIES]
    # bench_models' default is every generative model (downstream ones register only on import)
    assert sorted(bench_models.LAB_CONFIGS) == sorted(name for m in families for name in m)
    for name in bench_models.SPATIAL:
        assert getattr(create(name), "spatial_dims", 2) == 3, name
