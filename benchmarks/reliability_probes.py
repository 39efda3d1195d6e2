"""Hostile-but-realistic input probes against the public API, tallied by outcome.

Run: ``python benchmarks/reliability_probes.py [--list] [--only SUBSTRING]``. Every
``benchmarks/probes_*.py`` module defines ``PROBES``, a list of :class:`Probe`. Each probe runs in
a fresh temporary folder (also the cache, ``MEDGEN_NB_CACHE``) and is classified as one of

* ``clear error``  - a deliberate ``ValueError``/``TypeError``/``OSError`` raised by medgen_nb whose
  message contains the probe's ``hint`` (or a loud warning, where the probe allows one);
* ``correct``      - the call returned what it should (the probe's ``check`` said so);
* ``unclear error`` - an exception that does not say what to fix (a bare ``KeyError``, a torch
  dtype error from deep inside, a message without the hint);
* ``silent wrong`` - a plausible-looking wrong result, no error;
* ``crash``        - an ``AttributeError``/``TypeError``/``IndexError``... from code that never
  meant to raise it;
* ``data loss``    - the call destroyed something the user had (the probe's ``check`` says so).

To see the tally before a fix, point ``PYTHONPATH`` at an older checkout: the probes use only the
public API, so the same probe set runs against both.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
import tempfile
import traceback
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

VERDICTS = ("clear error", "correct", "unclear error", "silent wrong", "crash", "data loss")
CRASH_TYPES = (AttributeError, TypeError, IndexError, NameError, ZeroDivisionError, AssertionError)
CLEAR_TYPES = (ValueError, TypeError, OSError)


@dataclass
class Probe:
    """One probe: ``run(tmp)`` does what a user would, in the fresh folder ``tmp``.

    Attributes:
        item: where the defect is listed (e.g. ``"5a"``), for the report.
        name: what the probe does, in a few words.
        run: the call; gets a fresh ``pathlib.Path`` to work in.
        expect: ``"error"`` if the right answer is an exception (or a warning, with
            ``warning_ok``), ``"result"`` if the call should succeed.
        check: for a returned value, ``check(value, tmp)`` -> True (right), False (silently
            wrong) or a verdict string (e.g. ``"data loss"``). For ``expect="error"`` without a
            check, any returned value is ``"silent wrong"``.
        hint: a substring (case-insensitive) a clear message must contain.
        warning_ok: a warning whose message contains ``hint`` counts as a clear error.
    """

    item: str
    name: str
    run: Callable[[Path], Any]
    expect: Literal["error", "result"] = "error"
    check: Callable[[Any, Path], bool | str] | None = None
    hint: str | None = None
    warning_ok: bool = False


def _deliberate(exc: BaseException) -> bool:
    """True if the innermost frame that raised ``exc`` is medgen_nb's or a data script's own."""
    tb = traceback.extract_tb(exc.__traceback__)
    if not tb:
        return False
    where = tb[-1].filename.replace(os.sep, "/")
    return "/medgen_nb/" in where or "/data_scripts/" in where


def _has_hint(text: str, hint: str | None) -> bool:
    return hint is None or hint.lower() in text.lower()


def classify(probe: Probe, tmp: Path) -> tuple[str, str]:
    """Run ``probe`` in ``tmp``; return ``(verdict, detail)``."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            value = probe.run(tmp)
        except Exception as exc:  # noqa: BLE001 - classifying exceptions is the point
            text = f"{type(exc).__name__}: {exc}"
            if isinstance(exc, CRASH_TYPES) and not _deliberate(exc):
                return "crash", text
            if probe.expect == "result":
                return "unclear error", text
            if (
                isinstance(exc, CLEAR_TYPES)
                and _deliberate(exc)
                and _has_hint(str(exc), probe.hint)
            ):
                return "clear error", text
            return "unclear error", text
    loud = [w for w in caught if _has_hint(str(w.message), probe.hint)]
    if probe.check is not None:
        verdict = probe.check(value, tmp)
        if isinstance(verdict, str):
            return verdict, repr(value)[:120]
        if probe.expect == "result":
            return ("correct" if verdict else "silent wrong"), repr(value)[:120]
        if verdict:  # an "error" probe whose check accepts the outcome (e.g. a CLI's exit line)
            return "clear error", repr(value)[:120]
    if probe.expect == "error" and probe.warning_ok and loud:
        return "clear error", f"warning: {loud[0].message}"
    return "silent wrong", repr(value)[:120]


def run_probe(probe: Probe) -> tuple[str, str]:
    """:func:`classify` ``probe`` in a fresh temporary folder that is also its cwd and its cache."""
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        old_cache, old_cwd = os.environ.get("MEDGEN_NB_CACHE"), os.getcwd()
        os.environ["MEDGEN_NB_CACHE"] = str(tmp / "cache")
        os.chdir(tmp)
        try:
            return classify(probe, tmp)
        finally:
            os.chdir(old_cwd)
            if old_cache is None:
                os.environ.pop("MEDGEN_NB_CACHE", None)
            else:
                os.environ["MEDGEN_NB_CACHE"] = old_cache


def load_probes(only: str | None = None) -> list[Probe]:
    here = Path(__file__).resolve().parent
    sys.path.insert(0, str(here))
    probes: list[Probe] = []
    for path in sorted(here.glob("probes_*.py")):
        probes.extend(importlib.import_module(path.stem).PROBES)
    if only:
        probes = [p for p in probes if only in p.item or only in p.name]
    return probes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--list", action="store_true", help="list the probes and exit")
    parser.add_argument("--only", help="run probes whose item or name contains this")
    parser.add_argument("--quiet", action="store_true", help="print the tally only")
    args = parser.parse_args(argv)
    probes = load_probes(args.only)
    if args.list:
        for p in probes:
            print(f"{p.item:6s} {p.expect:6s} {p.name}")
        return 0
    import torch

    torch.set_num_threads(1)
    tally: Counter[str] = Counter()
    for probe in probes:
        with contextlib.redirect_stdout(sys.stderr):
            verdict, detail = run_probe(probe)
        tally[verdict] += 1
        if not args.quiet:
            print(
                f"{verdict:13s} {probe.item:6s} {probe.name}  |  {' '.join(detail.split())[:140]}"
            )
    print()
    print(f"{len(probes)} probes: " + ", ".join(f"{v} {tally[v]}" for v in VERDICTS))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
