"""Shared command-line pieces of the ``data_scripts/`` download scripts."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable
from pathlib import Path

from medgen_nb.data.realdata.common import default_root


def base_parser(name: str, description: str) -> argparse.ArgumentParser:
    """A parser with ``--dest``, ``--subjects`` and ``--quiet``, used by every script."""
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--dest",
        type=Path,
        default=None,
        help=f"target folder (default: {default_root(name)}, where load_dataset looks)",
    )
    parser.add_argument(
        "--subjects",
        type=positive_int,
        default=None,
        metavar="N",
        help="keep only the first N subjects (by id), e.g. a small subset for a course",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def first_subjects(
    names: Iterable[str], subject_of: Callable[[str], str | None], n: int | None
) -> set[str]:
    """The first ``n`` subject ids (sorted) among member ``names`` (all if ``n`` is None)."""
    ids = sorted({s for s in map(subject_of, names) if s is not None})
    return set(ids if n is None else ids[:n])


def sha256_arg(text: str | None) -> str | None:
    """A user-given SHA-256 as pooch's ``"sha256:HEX"`` (None stays None)."""
    if text is None:
        return None
    hexdigest = text.split(":", 1)[-1].strip().lower()
    if len(hexdigest) != 64 or any(c not in "0123456789abcdef" for c in hexdigest):
        raise argparse.ArgumentTypeError(f"--sha256 needs 64 hex digits, got {text!r}")
    return f"sha256:{hexdigest}"
