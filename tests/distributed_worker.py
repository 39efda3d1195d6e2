"""Runs that tests/test_distributed.py launches under ``torchrun --standalone --nproc_per_node=2``.

Shared with the test: :func:`build` (the seeded model) and :func:`data` (the data set), so the
single-process references train exactly what the ranks train. Run as a script, each rank trains
every case of :data:`RUNS` and writes, to ``<out>/<case>/rank<r>.safetensors`` / ``.json``,
its final weights, its history, and the steps at which it called ``save_checkpoint``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file
from torch.utils.data import Dataset

import medgen_nb.train as train_module
from medgen_nb.models import create
from medgen_nb.utils import seed_everything

PER_RANK_BATCH = 4
STEPS = 6
# float64 throughout: summation order then moves weights by ~1e-16 relative, so machine-dependent
# amplification of it (instance norm over a 2 x 2 map, Adam on near-zero gradients) stays far
# below what a wrong gradient average does (see tests/test_distributed.py)
DTYPE = torch.float64
CONFIGS = {
    # group norm: no per-rank batch statistics
    "vae": dict(size=16, base_channels=4, latent_dim=4),
    # instance norm (per image) and the paper's decoder dropout, whose masks the ranks draw
    # over the global batch
    "pix2pix": dict(size=32, base_channels=8, norm="instance", dropout=0.5),
}
# case -> (model, steps, checkpoint_every)
RUNS = {
    "vae": ("vae", STEPS, 2),
    "pix2pix": ("pix2pix", STEPS, None),
    "vae_half": ("vae", STEPS // 2, None),  # resumed in one process by the test
}


class Pairs(Dataset):
    """32 smooth random images (1, S, S) in [0, 1], float64; ``target`` is a fixed map of them."""

    def __init__(self, size: int, n: int = 32) -> None:
        g = torch.Generator().manual_seed(1234)
        low = torch.rand(n, 1, size // 4, size // 4, generator=g, dtype=DTYPE)
        self.image = torch.nn.functional.interpolate(low, size=(size, size), mode="bilinear")
        self.target = (1.0 - self.image) ** 2

    def __len__(self) -> int:
        return len(self.image)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"image": self.image[i], "target": self.target[i]}


def build(name: str):
    seed_everything(0)
    return create(name, **CONFIGS[name]).to(DTYPE)


def data(name: str) -> Pairs:
    return Pairs(CONFIGS[name]["size"])


def main(out: Path) -> None:
    torch.set_num_threads(1)
    saves: list[int] = []
    real_save = train_module.save_checkpoint

    def recording_save(*args, **kwargs):
        saves.append(kwargs["step"])
        return real_save(*args, **kwargs)

    train_module.save_checkpoint = recording_save  # count this rank's writes
    for case, (name, steps, every) in RUNS.items():
        saves.clear()
        model = build(name)
        history = train_module.fit(
            model, data(name), steps, batch_size=PER_RANK_BATCH, seed=3, precision="fp32",
            progress=False, checkpoint_dir=out / case / "ckpt", checkpoint_every=every,
        )  # fmt: skip
        rank = torch.distributed.get_rank()
        folder = out / case
        save_file(
            {k: v.contiguous() for k, v in model.state_dict().items()},
            folder / f"rank{rank}.safetensors",
        )
        record = {
            "history": history.to_dict(),
            "saves": list(saves),
            "world": torch.distributed.get_world_size(),
        }
        (folder / f"rank{rank}.json").write_text(json.dumps(record))
    torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
