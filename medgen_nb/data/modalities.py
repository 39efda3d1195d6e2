"""One modality vocabulary: canonical names, their aliases, imaging kind and intensity rule.

Data sets name the same contrast differently (BraTS 2023 ``t1n``/``t1c``/``t2f``, BraTS 2021
``t1``/``t1ce``/``flair``, IXI ``T1``/``T2``/``PD``, SynthRAD ``mr``/``cbct``). Every part of the
package that takes a modality name (phantoms, real-data loaders, tasks, widgets) resolves it here,
so ``"T1c"``, ``"t1ce"`` and ``"t1-gd"`` are one modality and a misspelt name gets an error that
lists the valid ones.

=============  =====  ============  ==========================================================
canonical      kind   rule          aliases (case, ``-``, ``_`` and spaces are ignored)
=============  =====  ============  ==========================================================
``t1w``        mr     mr_robust     t1, t1n, t1-weighted, mprage
``t2w``        mr     mr_robust     t2, t2-weighted
``pd``         mr     mr_robust     pdw, pd-weighted, proton-density
``flair``      mr     mr_robust     t2f, t2-flair
``t1ce``       mr     mr_robust     t1c, t1gd, t1+c, t1-contrast
``mr``         mr     mr_robust     mri (an unnamed MR contrast, as in SynthRAD2023 task 1)
``ct``         ct     ct_window     nc-ct, non-contrast-ct
``cbct``       ct     ct_window     cone-beam-ct
``ce_arterial`` ct    ct_window     arterial, cect-arterial
``ce_venous``  ct     ct_window     venous, portal-venous, cect-venous
``pet``        pet    pet_suv       fdg, fdg-pet, pt
``xray``       xray   linear        drr, radiograph, cxr (and x-ray)
``us``         us     linear        ultrasound, b-mode
=============  =====  ============  ==========================================================

The rule names the function of :mod:`medgen_nb.data.intensity` that maps the physical unit to
[0, 1]: ``mr_robust`` (per-volume percentiles, arbitrary units), ``ct_window`` (HU),
``pet_suv`` (SUV) or a fixed ``linear`` map (X-ray line integrals, ultrasound amplitude).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from medgen_nb.data.intensity import INTENSITY_KINDS

INTENSITY_RULES: tuple[str, ...] = ("mr_robust", "ct_window", "pet_suv", "linear")


@dataclass(frozen=True)
class Modality:
    """A canonical modality.

    Attributes:
        name: canonical name (what every ``Subject.images`` key and task uses).
        kind: imaging kind, one of :data:`medgen_nb.data.intensity.INTENSITY_KINDS`.
        rule: the intensity rule to [0, 1], one of :data:`INTENSITY_RULES`.
        unit: the physical unit of the raw images.
        description: a few words for tables and widget labels.
        aliases: other names that mean this modality.
    """

    name: str
    kind: str
    rule: str
    unit: str
    description: str
    aliases: tuple[str, ...] = ()


MODALITIES: dict[str, Modality] = {
    m.name: m
    for m in (
        Modality(
            "t1w",
            "mr",
            "mr_robust",
            "a.u.",
            "T1-weighted MR",
            ("t1", "t1n", "t1-weighted", "mprage"),
        ),
        Modality("t2w", "mr", "mr_robust", "a.u.", "T2-weighted MR", ("t2", "t2-weighted")),
        Modality(
            "pd",
            "mr",
            "mr_robust",
            "a.u.",
            "proton-density MR",
            ("pdw", "pd-weighted", "proton-density"),
        ),
        Modality("flair", "mr", "mr_robust", "a.u.", "T2-FLAIR MR", ("t2f", "t2-flair")),
        Modality(
            "t1ce",
            "mr",
            "mr_robust",
            "a.u.",
            "T1-weighted MR after gadolinium",
            ("t1c", "t1gd", "t1+c", "t1-contrast"),
        ),
        Modality("mr", "mr", "mr_robust", "a.u.", "MR (contrast not named)", ("mri",)),
        Modality("ct", "ct", "ct_window", "HU", "CT (non-contrast)", ("nc-ct", "non-contrast-ct")),
        Modality("cbct", "ct", "ct_window", "HU", "cone-beam CT", ("cone-beam-ct",)),
        Modality(
            "ce_arterial",
            "ct",
            "ct_window",
            "HU",
            "contrast-enhanced CT, arterial phase",
            ("arterial", "cect-arterial"),
        ),
        Modality(
            "ce_venous",
            "ct",
            "ct_window",
            "HU",
            "contrast-enhanced CT, portal-venous phase",
            ("venous", "portal-venous", "cect-venous"),
        ),
        Modality("pet", "pet", "pet_suv", "SUV", "FDG-PET", ("fdg", "fdg-pet", "pt")),
        Modality(
            "xray",
            "xray",
            "linear",
            "line integral",
            "X-ray radiograph (DRR)",
            ("drr", "radiograph", "cxr"),
        ),
        Modality("us", "us", "linear", "a.u.", "B-mode ultrasound", ("ultrasound", "b-mode")),
    )
}


def _key(name: str) -> str:
    return re.sub(r"[\s_\-]+", "", name.strip().lower())


_LOOKUP: dict[str, str] = {}
for _m in MODALITIES.values():
    for _alias in (_m.name, *_m.aliases):
        if _LOOKUP.get(_key(_alias), _m.name) != _m.name:  # a vocabulary mistake, caught at import
            raise RuntimeError(f"modality alias {_alias!r} is defined twice")
        _LOOKUP[_key(_alias)] = _m.name
    if _m.kind not in INTENSITY_KINDS or _m.rule not in INTENSITY_RULES:
        raise RuntimeError(f"modality {_m.name!r} has an unknown kind or rule")


def available() -> list[str]:
    """The canonical modality names."""
    return list(MODALITIES)


def canonical(name: str) -> str:
    """The canonical name of ``name`` (any alias, any case); a clear ``ValueError`` otherwise."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"a modality name must be a non-empty string, got {name!r}")
    found = _LOOKUP.get(_key(name))
    if found is None:
        raise ValueError(
            f"unknown modality {name!r}; canonical names are {available()} "
            "(aliases such as 't1', 't1n', 't1c', 't2f' are accepted too)"
        )
    return found


def get(name: str) -> Modality:
    """The :class:`Modality` that ``name`` (or one of its aliases) means."""
    return MODALITIES[canonical(name)]


def kind(name: str) -> str:
    """Imaging kind of ``name``: ``"mr"``, ``"ct"``, ``"pet"``, ``"xray"`` or ``"us"``."""
    return get(name).kind


def canonical_or_self(name: str) -> str:
    """The canonical name of ``name`` if the vocabulary knows it, else ``name`` unchanged (a user's
    own modality name in a NIfTI folder, e.g. ``"t1_corrected"``)."""
    found = _LOOKUP.get(_key(name)) if isinstance(name, str) else None
    return found or name


def resolve(name: str, available: Iterable[str]) -> str:
    """The key in ``available`` (e.g. a subject's image names) that means ``name``.

    ``name`` may be the key itself or any alias of it: ``resolve("t2", ["t2w", "pd"]) == "t2w"``.
    """
    keys = list(available)
    if name in keys:
        return name
    wanted = canonical_or_self(name) if isinstance(name, str) else None
    matches = [k for k in keys if canonical_or_self(k) == wanted]
    if len(matches) != 1:
        raise ValueError(
            f"unknown modality {name!r}; this data set has {sorted(keys)}"
            + (f" (several mean {wanted!r})" if len(matches) > 1 else "")
        )
    return matches[0]


def canonical_all(names: str | Iterable[str]) -> list[str]:
    """Canonical names of ``names`` (a string is one name), refusing repeats after resolution."""
    names = [names] if isinstance(names, str) else list(names)
    out = [canonical(n) for n in names]
    if len(set(out)) != len(out):
        raise ValueError(f"modalities {names} name the same modality twice ({out})")
    return out


__all__ = [
    "INTENSITY_RULES",
    "MODALITIES",
    "Modality",
    "available",
    "canonical",
    "canonical_all",
    "canonical_or_self",
    "get",
    "kind",
    "resolve",
]
