#!/usr/bin/env python
"""Download SynthRAD2023 (Zenodo 10.5281/zenodo.7260705) and extract one task/region safely.

Examples:
    python data_scripts/synthrad.py --task 1 --region brain --subjects 10     # MR -> CT
    python data_scripts/synthrad.py --task 2 --region pelvis --subjects 10    # CBCT -> CT
    python data_scripts/synthrad.py --task 1 --archive ~/Downloads/Task1.zip  # already downloaded

Task1.zip and Task2.zip each hold brain and pelvis (several GB): the whole zip is downloaded
(resumable), then only the first N subjects of the chosen region are extracted. No checksum is
published, so the zip is checked by CRC of every member; pass --sha256 HEX to pin it.
Licence: read it on the Zenodo record before use (not checked here); cite Thummerer et al.,
Medical Physics 50(7):4664-4674 (2023). Then in a notebook: DATA = "synthrad".
"""

from __future__ import annotations

import re
import sys

from medgen_nb.data.realdata.cli import (
    archive_file,
    base_parser,
    first_subjects,
    run_script,
    sha256_arg,
    url_template,
)
from medgen_nb.data.realdata.common import default_root
from medgen_nb.data.realdata.download import download, list_members, safe_extract, verify_format
from medgen_nb.data.realdata.synthrad import SYNTHRAD_REGIONS, SYNTHRAD_TASKS, SYNTHRAD_URL


def main(argv: list[str] | None = None) -> int:
    parser = base_parser("synthrad", __doc__)
    parser.add_argument("--task", type=int, nargs="+", default=[1], choices=SYNTHRAD_TASKS)
    parser.add_argument("--region", nargs="+", default=["brain"], choices=SYNTHRAD_REGIONS)
    parser.add_argument(
        "--url", default=SYNTHRAD_URL, type=url_template("task"), help="URL template with {task}"
    )
    parser.add_argument(
        "--archive",
        type=archive_file((".zip",)),
        default=None,
        help="use this local Task<k>.zip instead of downloading (one --task)",
    )
    parser.add_argument(
        "--sha256", type=sha256_arg, default=None, help="optional SHA-256 of the zip"
    )
    args = parser.parse_args(argv)
    dest = args.dest or default_root("synthrad")
    if args.archive is not None and len(args.task) != 1:
        parser.error("--archive goes with exactly one --task")
    status = 0
    for task in args.task:
        if args.archive is not None:
            verify_format(args.archive)
            archive = args.archive
        else:
            archive = download(
                args.url.format(task=task),
                dest / "archives" / f"Task{task}.zip",
                known_hash=args.sha256,
                progressbar=not args.quiet,
            )
        names = list_members(archive)
        for region in args.region:
            # members look like Task1/brain/1BA001/ct.nii.gz
            pattern = re.compile(
                rf"(?:^|/)Task{task}/{region}/({task}{region[0].upper()}[A-Z]\d{{3}})/"
            )

            def subject_of(name: str, pattern: re.Pattern = pattern) -> str | None:
                m = pattern.search(name)
                return m.group(1) if m else None

            keep = first_subjects(names, subject_of, args.subjects)
            if not keep:
                print(
                    f"synthrad.py: error: {archive.name} has no subjects under Task{task}/"
                    f"{region}/; check --task, --region and the archive",
                    file=sys.stderr,
                )
                status = 1
                continue
            files = safe_extract(
                archive,
                dest,
                select=lambda n, s=subject_of, k=keep: s(n) in k,
                progressbar=not args.quiet,
            )
            print(f"task {task} {region}: {len(keep)} subjects, {len(files)} files in {dest}")
    return status


if __name__ == "__main__":
    sys.exit(run_script(main))
