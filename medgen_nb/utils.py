"""Small shared utilities: seeding, device choice, the cache directory and atomic writes."""

from __future__ import annotations

import contextlib
import numbers
import os
import random
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Literal

import numpy as np
import torch

DeviceName = Literal["auto", "cpu", "cuda", "mps"]
_DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch (CPU and CUDA) and return a seeded CPU generator.

    Same seed on the same device and library versions gives the same weights and samples.
    ``seed`` may be any integer type (``int``, ``numpy.int64``...), but not a bool.
    """
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    return torch.Generator().manual_seed(seed)


def pick_device(device: str | torch.device = "auto") -> torch.device:
    """Resolve ``"auto"`` to the best available device (cuda, then mps, then cpu).

    An explicit name is checked: asking for ``"cuda"`` on a machine without a GPU raises a
    ``ValueError`` that says so rather than failing later inside a kernel.
    """
    if isinstance(device, torch.device):
        device = str(device)
    if not isinstance(device, str):
        raise TypeError(
            f"device must be a str such as 'auto', 'cpu' or 'cuda:0' (or a torch.device), got "
            f"{type(device).__name__} {device!r}"
        )
    name = device.split(":")[0]
    if name not in _DEVICE_CHOICES:
        raise ValueError(
            f"device must be one of {_DEVICE_CHOICES} (optionally 'cuda:N'), got {device!r}"
        )
    mps_ok = hasattr(torch.backends, "mps") and torch.backends.mps.is_available()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps" if mps_ok else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            "device='cuda' was asked for but no CUDA GPU is visible; use DEVICE='auto' or 'cpu'"
        )
    if name == "mps" and not mps_ok:
        raise ValueError(
            "device='mps' was asked for but Apple MPS is not available; use DEVICE='auto' or 'cpu'"
        )
    return torch.device(device)


def cache_dir(*parts: str) -> Path:
    """Return (and create) the medgen_nb cache directory, or a sub-directory of it.

    The root is ``$MEDGEN_NB_CACHE`` if set, else ``$XDG_CACHE_HOME/medgen_nb``, else
    ``~/.cache/medgen_nb``.

    Raises:
        ValueError: the folder cannot be made because a file is in its place (or above it), or it
            cannot be written; the message names the variable it came from and the path.
    """
    root = os.environ.get("MEDGEN_NB_CACHE")
    if root:
        base = Path(root).expanduser()
        origin = f"MEDGEN_NB_CACHE={root}"
    else:
        xdg = os.environ.get("XDG_CACHE_HOME")
        base = (Path(xdg) if xdg else Path.home() / ".cache") / "medgen_nb"
        origin = f"XDG_CACHE_HOME={xdg}" if xdg else "the default ~/.cache/medgen_nb"
    path = base.joinpath(*parts)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError, PermissionError) as exc:
        blocker = next((p for p in (path, *path.parents) if p.is_file()), None)
        why = f"{blocker} is a file, not a folder" if blocker else f"{type(exc).__name__}: {exc}"
        raise ValueError(
            f"cannot create the medgen_nb cache folder {path} (from {origin}): {why}. "
            "Point MEDGEN_NB_CACHE at a folder you can write to (it is created if missing), "
            "or move that file away"
        ) from exc
    return path


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: Literal["wb", "w"] = "wb") -> Iterator[IO]:
    """Open a temporary file beside ``path`` and move it into place only on success.

    A crash or exception mid-write leaves any previous ``path`` untouched and no partial file:
    readers see either the old content or the complete new content (``os.replace`` is atomic on
    POSIX and Windows within one file system).
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"mode must be 'wb' or 'w', got {mode!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        # mkstemp makes the file owner-only (0600); give it the mode a plain open() would have
        # (0666 less the umask), so shared caches and packaged files stay readable by others.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        with os.fdopen(fd, mode) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def trim_memory() -> bool:
    """Return freed heap memory to the operating system (glibc ``malloc_trim``); else a no-op.

    After a phase that allocates and frees many large temporaries (simulating a subject, a
    training run, scoring a test split), glibc keeps the freed pages in the process's heap, so
    a notebook kernel's resident memory grows phase after phase although its live data do not;
    on a 2 GB Binder that is what runs out. The package calls this at the end of such phases, as
    Dask's workers do. Returns whether memory was released (False off glibc, e.g. macOS).
    """
    global _MALLOC_TRIM
    if _MALLOC_TRIM is None:
        import ctypes
        import ctypes.util

        _MALLOC_TRIM = False
        name = ctypes.util.find_library("c")
        if name:
            with contextlib.suppress(OSError, AttributeError):
                _MALLOC_TRIM = ctypes.CDLL(name).malloc_trim
    return bool(_MALLOC_TRIM and _MALLOC_TRIM(0))


_MALLOC_TRIM = None  # the libc function, once looked up (False where there is none)


def environment_report() -> dict[str, str]:
    """Versions, device, threads and cache location, for the setup notebook and bug reports."""
    import platform

    import matplotlib
    import nibabel

    from medgen_nb.version import __version__

    dev = pick_device("auto")
    return {
        "medgen_nb": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "nibabel": nibabel.__version__,
        "matplotlib": matplotlib.__version__,
        "device (auto)": str(dev),
        "cuda available": str(torch.cuda.is_available()),
        "torch threads": str(torch.get_num_threads()),
        "cpu cores": str(os.cpu_count()),
        "cache dir": str(cache_dir()),
    }
