#!/usr/bin/env python
"""Download IXI T1/T2/PD tarballs (resumable) and extract them safely, optionally a subset.

Examples:
    python data_scripts/ixi.py --modalities t2 pd --subjects 20      # paired T2 -> PD
    python data_scripts/ixi.py --subjects 20                          # T1, T2 and PD

Each tarball holds all ~580 subjects (T1 4.5 GB, T2 and PD about 4 GB each): the whole file is
downloaded (resumable: rerun after an interruption), then only the first N subjects that have
every requested modality are extracted. No checksum is published for these files, so they are
checked by format (every tar member read to its end); pass --sha256 MOD=HEX to pin one.
Licence CC BY-SA 3.0; acknowledge https://brain-development.org/ixi-dataset/.
Then in a notebook: DATA = "ixi".
"""

from __future__ import annotations

import sys

from medgen_nb.data.realdata.cli import (
    base_parser,
    first_subjects,
    keyed_sha256_arg,
    run_script,
    url_template,
)
from medgen_nb.data.realdata.common import default_root
from medgen_nb.data.realdata.download import download, list_members, safe_extract
from medgen_nb.data.realdata.ixi import IXI_MODALITIES, IXI_URL, ixi_subject_id


def main(argv: list[str] | None = None) -> int:
    parser = base_parser("ixi", __doc__)
    parser.add_argument(
        "--modalities", nargs="+", default=list(IXI_MODALITIES), choices=IXI_MODALITIES
    )
    parser.add_argument(
        "--url",
        default=IXI_URL,
        type=url_template("MOD"),
        help="URL template with {MOD} (T1, T2, PD); default the IXI server",
    )
    parser.add_argument(
        "--sha256",
        action="append",
        type=keyed_sha256_arg(IXI_MODALITIES),
        default=[],
        metavar="MOD=HEX",
        help="optional SHA-256 of a tarball, e.g. T2=ab12...; repeatable",
    )
    parser.add_argument(
        "--remove-archives",
        action="store_true",
        help="delete the tarballs after extraction (default: keep, to add subjects later)",
    )
    args = parser.parse_args(argv)
    dest = args.dest or default_root("ixi")
    hashes = dict(args.sha256)
    unused = sorted(set(hashes) - set(args.modalities))
    if unused:
        parser.error(
            f"--sha256 given for {', '.join(m.upper() for m in unused)}, which --modalities "
            f"({' '.join(args.modalities)}) does not download"
        )
    archives = {}
    for mod in args.modalities:
        url = args.url.format(MOD=mod.upper())
        archives[mod] = download(
            url,
            dest / "archives" / f"IXI-{mod.upper()}.tar",
            known_hash=hashes.get(mod),
            progressbar=not args.quiet,
        )
    # A subject counts only if every requested modality has it (IXI lacks some T2/PD/T1 files).
    per_mod = []
    for path in archives.values():
        per_mod.append(first_subjects(list_members(path), ixi_subject_id, None))
    common = sorted(set.intersection(*per_mod))
    if not common:  # e.g. tars that are not IXI's: say so rather than extract nothing
        counts = ", ".join(f"{m.upper()} {len(s)}" for m, s in zip(archives, per_mod, strict=True))
        print(
            f"ixi.py: error: no subject is in every requested archive (subjects found: {counts}); "
            "check --modalities and --url",
            file=sys.stderr,
        )
        return 1
    keep = set(common if args.subjects is None else common[: args.subjects])
    for mod, path in archives.items():
        files = safe_extract(
            path, dest, select=lambda n: ixi_subject_id(n) in keep, progressbar=not args.quiet
        )
        print(f"{mod.upper()}: {len(files)} files in {dest}")
        if args.remove_archives:
            path.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(run_script(main))
