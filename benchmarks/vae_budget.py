"""How the creation-baseline VAE's FID depends on its training budget (notebooks 03 and 05).

Trains ``train_vae_baseline`` (notebook 02's VAE design) on the simulated T1w slices of notebook
03 (20 subjects) or 05 (12 subjects) at 32 px, for several step counts at batch 16, and prints the
FID (medical features) of its samples against the held-out test slices, with the same N as the
notebook. The notebooks quote these figures: at a matched budget the GANs and the DDPM beat the
VAE, but the VAE overtakes the short-trained models when it trains longer.

    python benchmarks/vae_budget.py --notebook 03 --steps 600 1200 2400 4800
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch

from medgen_nb.data.brain_phantom import brain_slice_datasets
from medgen_nb.evaluation import train_vae_baseline
from medgen_nb.metrics import extract_features, fid

# Data and evaluation protocol of each notebook: subjects, N of the FID, how the real set is drawn.
PROTOCOL = {"03": dict(subjects=20, n_eval=256), "05": dict(subjects=12, n_eval=128)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notebook", choices=sorted(PROTOCOL), default="03")
    parser.add_argument("--steps", type=int, nargs="+", default=[600, 1200, 2400, 4800])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    proto = PROTOCOL[args.notebook]
    data = brain_slice_datasets(
        ["t1w"], n_subjects=proto["subjects"], size=32, seed=args.seed, seg_key="lesion",
        label_from="seg_present", progress=False,
    )  # fmt: skip
    test = data["test"].tensors()["image"]
    if args.notebook == "05":  # notebook 05 draws its real set with a seeded permutation
        g = torch.Generator().manual_seed(args.seed)
        real = test[torch.randperm(len(test), generator=g)[: proto["n_eval"]]]
    else:
        real = test[: proto["n_eval"]]
    f_real = extract_features(real)
    print(f"notebook {args.notebook} data: {len(data['train'])} training slices, N = {len(real)}")
    for steps in args.steps:
        start = time.perf_counter()
        with tempfile.TemporaryDirectory() as runs:  # always train: the time is part of the report
            vae = train_vae_baseline(
                data["train"], size=32, steps=steps, batch_size=16, seed=args.seed, cache=runs
            )
        seconds = time.perf_counter() - start
        fake = vae.sample(len(real), generator=torch.Generator().manual_seed(args.seed)).cpu()
        score = fid(f_real, extract_features(fake))
        print(f"{steps:6d} steps of batch 16: FID {score:6.2f}  ({seconds:.0f} s of training)")


if __name__ == "__main__":
    main()
