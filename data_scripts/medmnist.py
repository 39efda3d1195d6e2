#!/usr/bin/env python
"""Download MedMNIST 2-D sets (.npz) from Zenodo, checked against the publisher's MD5.

Examples:
    python data_scripts/medmnist.py pneumoniamnist
    python data_scripts/medmnist.py chestmnist breastmnist organamnist --size 64
    python data_scripts/medmnist.py pneumoniamnist --subjects 500   # first 500 images per split

Then in a notebook: DATA = "medmnist:pneumoniamnist".
Licence: CC BY 4.0 (DermaMNIST CC BY-NC 4.0). Cite Yang et al., Scientific Data 10:41 (2023).
"""

from __future__ import annotations

import sys

import numpy as np

from medgen_nb.data.realdata.cli import base_parser, run_script, url_template
from medgen_nb.data.realdata.common import default_root
from medgen_nb.data.realdata.download import download
from medgen_nb.data.realdata.medmnist import (
    MEDMNIST_2D,
    MEDMNIST_SIZES,
    MEDMNIST_URL,
    medmnist_filename,
    medmnist_md5,
    read_medmnist_npz,
)
from medgen_nb.data.slices import SPLITS
from medgen_nb.utils import atomic_write


def main(argv: list[str] | None = None) -> int:
    parser = base_parser("medmnist", __doc__)
    parser.add_argument(
        "flags",
        nargs="+",
        choices=sorted(MEDMNIST_2D),
        metavar="SET",
        help=f"one or more of: {', '.join(sorted(MEDMNIST_2D))}",
    )
    parser.add_argument("--size", type=int, default=28, choices=MEDMNIST_SIZES)
    parser.add_argument(
        "--url",
        default=MEDMNIST_URL,
        type=url_template("file"),
        help="URL template with {file} (a mirror; default Zenodo record 10519652)",
    )
    args = parser.parse_args(argv)
    dest = args.dest or default_root("medmnist")
    for flag in args.flags:
        name = medmnist_filename(flag, args.size)
        url = args.url.format(file=name)
        md5 = f"md5:{medmnist_md5(flag, args.size)}"
        if args.subjects is None:
            path = download(url, dest / name, known_hash=md5, progressbar=not args.quiet)
        else:  # keep the verified original aside, write the subset under the loader's name
            full = download(url, dest / "full" / name, known_hash=md5, progressbar=not args.quiet)
            arrays = {}
            for split in SPLITS:
                images, labels = read_medmnist_npz(full, split)
                arrays[f"{split}_images"] = images[: args.subjects]
                arrays[f"{split}_labels"] = labels[: args.subjects]
            path = dest / name
            with atomic_write(path) as fh:
                np.savez_compressed(fh, **arrays)
        print(f"{flag}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(run_script(main))
