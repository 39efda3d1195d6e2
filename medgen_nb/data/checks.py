"""Argument checks shared by the simulators and loaders, run before any subject is simulated or read.

``True`` is an ``int`` to Python, so a bare ``isinstance(n, int)`` takes ``n_subjects=True`` as one
subject; :func:`check_count` refuses bools. :func:`check_fractions` validates train/val/test
fractions, and :func:`split_sizes` is the one rule that turns them into subject counts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def check_count(value: object, name: str, minimum: int = 1, *, none_ok: bool = False) -> None:
    """Raise ``ValueError`` unless ``value`` is an int >= ``minimum`` (bools are refused).

    ``none_ok`` also accepts None (e.g. ``subjects=None`` for all of them).
    """
    if value is None and none_ok:
        return
    wanted = {0: "a non-negative int", 1: "a positive int"}.get(minimum, f"an int >= {minimum}")
    wanted += " or None" if none_ok else ""
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | np.integer):
        kind = "a bool" if isinstance(value, bool | np.bool_) else type(value).__name__
        raise ValueError(
            f"{name} must be {wanted}, got {value!r} ({kind}); pass a number, "
            f"e.g. {name}={max(minimum, 1)}"
        )
    if value < minimum:
        raise ValueError(f"{name} must be {wanted}, got {value!r}")


def check_fractions(fractions: object) -> tuple[float, float, float]:
    """Train/val/test fractions: three finite numbers >= 0 summing to 1; returned as floats."""
    msg = (
        "fractions must be three non-negative numbers (train, val, test) summing to 1, e.g. "
        f"(0.7, 0.15, 0.15), got {fractions!r}"
    )
    if isinstance(fractions, str) or not isinstance(fractions, Sequence) or len(fractions) != 3:
        raise ValueError(msg)
    if any(isinstance(f, bool) or not isinstance(f, int | float | np.number) for f in fractions):
        raise ValueError(msg)
    out = tuple(float(f) for f in fractions)
    if not all(math.isfinite(f) and f >= 0 for f in out) or abs(sum(out) - 1) > 1e-6:
        raise ValueError(msg)
    return out  # type: ignore[return-value]


def split_sizes(n: int, fractions: tuple[float, float, float]) -> tuple[int, int, int]:
    """Subjects per split (train, val, test) for ``n`` subjects.

    Val and test get ``round(fraction * n)``, at least one each (if their fraction is > 0) when
    there are three or more subjects; train gets the rest. Train keeps at least one subject when
    its fraction is > 0, and never a negative count (which made splits overlap).
    """
    n_val, n_test = round(fractions[1] * n), round(fractions[2] * n)
    if n >= 3:
        n_val = max(n_val, 1 if fractions[1] > 0 else 0)
        n_test = max(n_test, 1 if fractions[2] > 0 else 0)
    keep_train = 1 if fractions[0] > 0 and n >= 1 else 0
    while n_val + n_test > n - keep_train:  # take from the larger of val and test
        if n_val >= n_test:
            n_val -= 1
        else:
            n_test -= 1
    return n - n_val - n_test, n_val, n_test


def min_subjects(fractions: tuple[float, float, float], per_split: int = 1) -> int:
    """The fewest subjects that give every split with a positive fraction ``per_split`` subjects."""
    for n in range(1, 100_000):
        if all(
            k >= per_split
            for k, f in zip(split_sizes(n, fractions), fractions, strict=True)
            if f > 0
        ):
            return n
    raise ValueError(f"fractions {fractions} cannot give {per_split} subjects per split")
