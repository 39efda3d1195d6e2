#!/usr/bin/env python
"""BraTS 2023: registration-gated, so no download. Extract your zip safely and check the layout.

How to get the data:
  1. Create a Synapse account (https://www.synapse.org/) and register for the BraTS 2023
     challenge (search "BraTS 2023"), accepting its data use agreement.
  2. Download the training data, e.g. ASNR-MICCAI-BraTS2023-GLI-Challenge-TrainingData.zip.
  3. python data_scripts/brats.py --archive PATH/TO/THAT.zip --subjects 20
  4. In a notebook: DATA = "brats".

Expected layout: BraTS-GLI-00000-000/BraTS-GLI-00000-000-{t1n,t1c,t2w,t2f,seg}.nii.gz (2023),
or BraTS2021_00000/BraTS2021_00000_{t1,t1ce,t2,flair,seg}.nii.gz (2021, loaded under the 2023
names and labels); keep one release per folder.
Cite Baid et al. arXiv:2107.02314 (2021), Menze et al. IEEE TMI (2015), Bakas et al. Sci Data (2017).

Examples:
    python data_scripts/brats.py --archive BraTS2023-GLI-Training.zip --subjects 20
    python data_scripts/brats.py --check /data/brats      # list complete and incomplete cases
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from medgen_nb.data.realdata.brats import BRATS_MODALITIES, BRATS_NAMINGS, BRATS_SEG, find_brats
from medgen_nb.data.realdata.cli import archive_file, base_parser, first_subjects, run_script
from medgen_nb.data.realdata.common import default_root
from medgen_nb.data.realdata.download import ARCHIVE_SUFFIXES, list_members, safe_extract

_CASE = re.compile(rf"(?:^|/)({'|'.join(n.case for n in BRATS_NAMINGS)})/")


def _case_of(name: str) -> str | None:
    m = _CASE.search(name)
    return m.group(1) if m else None


def check(root: Path) -> int:
    """Print complete and incomplete cases; exit status 1 if none is complete."""
    try:
        found = find_brats(root) if root.is_dir() else {}
    except ValueError as exc:  # a folder mixing the 2021 and 2023 releases
        print(exc)
        return 1
    wanted = (*BRATS_MODALITIES, BRATS_SEG)
    complete = [c for c, f in found.items() if all(w in f for w in wanted)]
    print(f"{root}: {len(found)} case folders, {len(complete)} complete")
    for case, files in found.items():
        lacking = [w for w in wanted if w not in files]
        if lacking:
            print(f"  {case}: missing {', '.join(lacking)}")
    return 0 if complete else 1


def main(argv: list[str] | None = None) -> int:
    parser = base_parser("brats", __doc__)
    parser.add_argument(
        "--archive",
        type=archive_file(ARCHIVE_SUFFIXES),
        default=None,
        help="the BraTS .zip/.tar.gz you downloaded from Synapse",
    )
    parser.add_argument(
        "--check",
        type=Path,
        default=None,
        metavar="FOLDER",
        help="only check the layout of an extracted folder",
    )
    args = parser.parse_args(argv)
    if args.check is not None:
        return check(args.check)
    if args.archive is None:
        parser.print_help()
        return 2
    dest = args.dest or default_root("brats")
    names = list_members(args.archive)
    keep = first_subjects(names, _case_of, args.subjects)
    files = safe_extract(
        args.archive, dest, select=lambda n: _case_of(n) in keep, progressbar=not args.quiet
    )
    print(f"{len(keep)} cases, {len(files)} files in {dest}")
    return check(dest)


if __name__ == "__main__":
    sys.exit(run_script(main))
