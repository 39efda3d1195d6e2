"""Shared command-line pieces of the ``data_scripts/`` download scripts.

Every user-given value is checked by an argparse ``type`` (a bad one is a usage error, exit
status 2), and :func:`run_script` turns a failed download or extraction into one line on stderr
and exit status 1 instead of a traceback.
"""

from __future__ import annotations

import argparse
import string
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from medgen_nb.data.realdata.common import default_root
from medgen_nb.data.realdata.download import DownloadError, UnsafeArchiveError, check_url


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
    """A user-given SHA-256 (``HEX`` or ``sha256:HEX``) as ``"sha256:HEX"`` (None stays None).

    An argparse ``type``: a malformed value raises ``argparse.ArgumentTypeError``.
    """
    if text is None:
        return None
    alg, sep, hexdigest = text.strip().rpartition(":")
    if sep and alg.lower() != "sha256":
        raise argparse.ArgumentTypeError(
            f"--sha256 takes a SHA-256 (64 hex digits, optionally after 'sha256:'), got {text!r}"
        )
    hexdigest = hexdigest.strip().lower()
    if len(hexdigest) != 64 or any(c not in "0123456789abcdef" for c in hexdigest):
        raise argparse.ArgumentTypeError(f"--sha256 needs 64 hex digits, got {text!r}")
    return f"sha256:{hexdigest}"


def keyed_sha256_arg(keys: Sequence[str]) -> Callable[[str], tuple[str, str]]:
    """An argparse ``type`` for ``KEY=HEX`` (e.g. ``T2=ab12...``): returns ``(key, "sha256:HEX")``.

    ``KEY`` is matched case-insensitively against ``keys`` (lower-case).
    """

    def parse(text: str) -> tuple[str, str]:
        key, sep, hexdigest = text.partition("=")
        key = key.strip().lower()
        if not sep or key not in keys:
            raise argparse.ArgumentTypeError(
                f"--sha256 takes KEY=HEX with KEY one of {', '.join(k.upper() for k in keys)}, "
                f"got {text!r}"
            )
        return key, sha256_arg(hexdigest)

    return parse


def url_template(*fields: str) -> Callable[[str], str]:
    """An argparse ``type`` for a ``--url`` template: an http(s):// or file:// URL holding each
    ``{FIELD}`` of ``fields`` and no other; without them every file would come from one URL."""

    def parse(text: str) -> str:
        try:
            found = {f for _, f, _, _ in string.Formatter().parse(text) if f is not None}
            check_url(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        wanted = set(fields)
        if found != wanted:
            need = ", ".join("{" + f + "}" for f in fields)
            raise argparse.ArgumentTypeError(
                f"the URL template must contain {need} (and no other {{...}}), got {text!r}"
            )
        return text

    return parse


def archive_file(suffixes: Sequence[str]) -> Callable[[str], Path]:
    """An argparse ``type`` for an existing local archive ending in one of ``suffixes``."""

    def parse(text: str) -> Path:
        path = Path(text).expanduser()
        if not path.name.lower().endswith(tuple(suffixes)):
            raise argparse.ArgumentTypeError(
                f"the archive must end in one of {', '.join(suffixes)}, got {text!r}"
            )
        if not path.is_file():
            raise argparse.ArgumentTypeError(f"no such file: {text!r}")
        return path

    return parse


def run_script(main: Callable[[list[str] | None], int], argv: list[str] | None = None) -> int:
    """Run a script's ``main``; a failed download or extraction prints one line, exit status 1.

    Ctrl-C prints how to continue (exit status 130). Other exceptions (bugs) keep their
    traceback.
    """
    prog = Path(sys.argv[0]).name or "script"
    try:
        return main(argv)
    except (DownloadError, UnsafeArchiveError, OSError) as exc:  # OSError: e.g. a full disk
        print(f"{prog}: error: {exc}", file=sys.stderr)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    return 1
