"""Resumable, verified downloads (through pooch) and archive extraction that cannot escape its target.

:func:`download` hands the transfer to :func:`pooch.retrieve`, which writes to a temporary file,
checks the hash and moves the file into place only if it matches. Our downloader plugs into pooch
to add what pooch lacks: **resume** (an HTTP ``Range`` request continues a hidden ``.NAME.part``
file after an interruption), ``file://`` URLs (lab mirrors, tests) and a **format check** (a
truncated ``.nii.gz``, ``.tar``, ``.zip`` or ``.npz`` is refused before it reaches its final name).

Where the publisher documents a checksum (MedMNIST's MD5s) it is used; where none is published
(IXI, SynthRAD2023) the file is checked by size and format only, and the user may pass a SHA-256.

:func:`safe_extract` checks **every** member of a tar or zip before writing anything: absolute
paths, ``..`` components, links and device files are refused. Members are written into a
temporary folder inside the target and each is moved into place atomically.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import shutil
import stat
import tarfile
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlparse

import pooch
from tqdm.auto import tqdm

from medgen_nb.data.io import load_nifti

_CHUNK = 1 << 20  # 1 MiB
# Small network reads: an interrupted read loses at most one chunk of the resumable part.
_HTTP_CHUNK = 1 << 16
ARCHIVE_SUFFIXES: tuple[str, ...] = (".tar", ".tar.gz", ".tgz", ".zip")


class DownloadError(OSError):
    """A download failed, was truncated, or did not match its checksum or format."""


class UnsafeArchiveError(ValueError):
    """An archive member would be written outside the target folder (or is a link/device)."""


def part_path(dest: Path) -> Path:
    """The hidden file that holds the bytes of an unfinished download of ``dest``."""
    return dest.with_name(f".{dest.name}.part")


def verify_format(path: str | os.PathLike) -> None:
    """Read ``path`` to its end by its suffix; raise ``DownloadError`` if it is truncated or corrupt.

    ``.nii``/``.nii.gz`` are read with nibabel, ``.tar*`` member by member, ``.zip``/``.npz`` by CRC,
    other ``.gz`` by decompressing. Other suffixes are not checked.
    """
    path = Path(path)
    name = path.name.lower()
    try:
        if name.endswith((".nii", ".nii.gz")):
            load_nifti(path)
        elif name.endswith((".tar", ".tar.gz", ".tgz")):
            with tarfile.open(path) as tar:
                n = 0
                for member in tar:
                    n += 1
                    if member.isfile():
                        fh = tar.extractfile(member)
                        got = 0
                        while chunk := fh.read(_CHUNK):
                            got += len(chunk)
                        if got != member.size:
                            raise EOFError(f"member {member.name!r} is cut short")
                if n == 0:
                    raise EOFError("archive has no members")
                if tar.offset > path.stat().st_size:
                    raise EOFError("archive ends before its last member")
        elif name.endswith((".zip", ".npz")):
            with zipfile.ZipFile(path) as zf:
                bad = zf.testzip()
                if bad is not None:
                    raise EOFError(f"member {bad!r} fails its CRC")
        elif name.endswith(".gz"):
            with gzip.open(path) as fh:
                while fh.read(_CHUNK):
                    pass
    except (OSError, EOFError, ValueError, tarfile.TarError, zipfile.BadZipFile) as exc:
        raise DownloadError(
            f"{path.name} is truncated or not a valid {''.join(path.suffixes) or 'file'} "
            f"({type(exc).__name__}: {exc}); download it again"
        ) from exc


class ResumableDownloader:
    """A pooch downloader that resumes into ``part`` and checks size and format before handing over.

    Args:
        part: where unfinished bytes are kept between attempts (hidden, beside the destination).
        expected_size: total size in bytes, if known; a different size is refused.
        check: called on the complete bytes (e.g. :func:`verify_format`); raising refuses the file.
        progressbar: show a tqdm bar.
        timeout: seconds to wait for the server between bytes.
    """

    def __init__(
        self,
        part: Path,
        expected_size: int | None = None,
        check: Callable[[Path], None] | None = verify_format,
        progressbar: bool = True,
        timeout: float = 60.0,
    ) -> None:
        self.part, self.expected_size, self.check = Path(part), expected_size, check
        self.progressbar, self.timeout = progressbar, timeout

    def __call__(self, url: str, output_file: str, pooch_obj: object = None) -> None:
        scheme = urlparse(url).scheme
        if scheme in ("http", "https"):
            self._fetch_http(url)
        elif scheme == "file":
            self._fetch_file(url)
        else:  # ftp, sftp, doi: pooch's own downloaders (no resume)
            pooch.choose_downloader(url, progressbar=self.progressbar)(
                url, str(self.part), pooch_obj
            )
        size = self.part.stat().st_size
        if self.expected_size is not None and size != self.expected_size:
            self.part.unlink()
            raise DownloadError(
                f"{url} gave {size} bytes but {self.expected_size} were expected; the file was "
                "removed: download it again, or check the URL"
            )
        if self.check is not None:
            # Check under the final suffix so the format is known; delete corrupt bytes: a resume
            # would only extend them.
            probe = self.part.with_name(self.part.name[1:-5])
            probe = probe.with_name(f".check-{os.getpid()}-{probe.name}")
            os.replace(self.part, probe)
            try:
                self.check(probe)
            except DownloadError:
                probe.unlink()
                raise
            except BaseException:  # e.g. Ctrl-C while checking a large file: keep it for a rerun
                os.replace(probe, self.part)
                raise
            os.replace(probe, self.part)
        os.replace(self.part, output_file)

    def _bar(self, total: int | None, initial: int, url: str):
        return tqdm(
            total=total,
            initial=initial,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc=Path(urlparse(url).path).name[:40],
            disable=not self.progressbar,
        )

    def _fetch_http(self, url: str) -> None:
        import requests  # a dependency of pooch

        have = self.part.stat().st_size if self.part.exists() else 0
        headers = {"Range": f"bytes={have}-"} if have else {}
        try:
            with requests.get(url, stream=True, headers=headers, timeout=self.timeout) as resp:
                if have and resp.status_code == 416:  # the part is already complete
                    return
                if have and resp.status_code == 200:  # server ignores Range: start afresh
                    have = 0
                if resp.status_code >= 400:
                    raise DownloadError(
                        f"{url} answered HTTP {resp.status_code} {resp.reason}: check the URL "
                        "(or whether the server needs a login)"
                    )
                length = resp.headers.get("Content-Length")
                total = have + int(length) if length is not None else None
                with (
                    open(self.part, "ab" if have else "wb") as fh,
                    self._bar(total, have, url) as bar,
                ):
                    for chunk in resp.iter_content(_HTTP_CHUNK):
                        fh.write(chunk)
                        bar.update(len(chunk))
        except requests.RequestException as exc:
            got = self.part.stat().st_size if self.part.exists() else 0
            raise DownloadError(
                f"download of {url} was interrupted after {got} bytes ({type(exc).__name__}); "
                f"the bytes so far are kept in {self.part}: run the same command again to resume"
            ) from exc
        got = self.part.stat().st_size
        if total is not None and got < total:
            raise DownloadError(
                f"download of {url} stopped at {got} of {total} bytes; kept in {self.part}: run "
                "the same command again to resume"
            )

    def _fetch_file(self, url: str) -> None:
        src = Path(unquote(urlparse(url).path))
        if not src.is_file():
            raise DownloadError(f"{url}: no such file")
        have = self.part.stat().st_size if self.part.exists() else 0
        total = src.stat().st_size
        if have > total:
            have = 0
        with open(src, "rb") as fin, open(self.part, "ab" if have else "wb") as fout:
            fin.seek(have)
            with self._bar(total, have, url) as bar:
                while chunk := fin.read(_CHUNK):
                    fout.write(chunk)
                    bar.update(len(chunk))


def download(
    url: str,
    dest: str | os.PathLike,
    *,
    known_hash: str | None = None,
    expected_size: int | None = None,
    check: Callable[[Path], None] | None = verify_format,
    progressbar: bool = True,
) -> Path:
    """Download ``url`` to ``dest`` (resumable, verified, atomic) and return ``dest``.

    Args:
        url: ``http(s)://``, ``file://`` (resumable) or any scheme pooch knows (ftp, doi).
        dest: final file path; an existing file is re-used when it passes ``known_hash``.
        known_hash: ``"sha256:HEX"``, ``"md5:HEX"`` or a bare SHA-256 hex digest; None to skip.
        expected_size: total size in bytes, if known.
        check: format check on the complete bytes before they get their final name.

    Raises:
        DownloadError: interrupted (bytes kept for resume), truncated, wrong size/format or
            checksum mismatch (bytes removed). ``dest`` never holds a partial or unverified file.
    """
    dest = Path(dest)
    if known_hash is not None and ":" not in known_hash:
        if len(known_hash) != 64:
            raise ValueError(
                f"known_hash must be 'sha256:HEX', 'md5:HEX' or a 64-digit SHA-256, got {known_hash!r}"
            )
        known_hash = f"sha256:{known_hash.lower()}"
    if dest.is_file() and known_hash is None:
        return dest  # verified when it was written; pass known_hash to re-check
    dest.parent.mkdir(parents=True, exist_ok=True)
    downloader = ResumableDownloader(part_path(dest), expected_size, check, progressbar)
    try:
        pooch.retrieve(url, known_hash, fname=dest.name, path=dest.parent, downloader=downloader)
    except ValueError as exc:  # pooch's hash mismatch
        with contextlib.suppress(FileNotFoundError):
            part_path(dest).unlink()
        if "hash" not in str(exc).lower():
            raise
        raise DownloadError(
            f"checksum mismatch for {dest.name} from {url}: expected {known_hash}; the file was "
            "removed. The server may hold a different version: check the URL and the checksum"
        ) from exc
    return dest


def _check_member(name: str, kind: str) -> PurePosixPath:
    """The member's relative path, or ``UnsafeArchiveError`` if it could land outside the target."""
    path = PurePosixPath(name.replace("\\", "/"))
    if kind not in ("file", "dir"):
        raise UnsafeArchiveError(
            f"archive member {name!r} is a {kind}; only regular files and folders are extracted"
        )
    if path.is_absolute() or ".." in path.parts or (path.parts and ":" in path.parts[0]):
        raise UnsafeArchiveError(
            f"archive member {name!r} would be written outside the target folder; refusing the "
            "whole archive (nothing was extracted)"
        )
    return path


def _members(archive: Path) -> list[tuple[str, str]]:
    """(name, kind) of every member, kind in file/dir/symlink/hardlink/device."""
    if archive.name.lower().endswith(".zip"):
        with zipfile.ZipFile(archive) as zf:
            out = []
            for info in zf.infolist():
                mode = info.external_attr >> 16
                kind = "symlink" if stat.S_ISLNK(mode) else "dir" if info.is_dir() else "file"
                out.append((info.filename, kind))
            return out
    with tarfile.open(archive) as tar:
        kinds = []
        for m in tar.getmembers():
            kind = (
                "file"
                if m.isfile()
                else "dir"
                if m.isdir()
                else "symlink"
                if m.issym()
                else "hardlink"
                if m.islnk()
                else "device"
            )
            kinds.append((m.name, kind))
        return kinds


def safe_extract(
    archive: str | os.PathLike,
    dest: str | os.PathLike,
    select: Callable[[str], bool] | None = None,
    progressbar: bool = True,
) -> list[Path]:
    """Extract the regular files of a ``.tar``, ``.tar.gz``/``.tgz`` or ``.zip`` into ``dest``.

    Every member is checked first; one unsafe member refuses the archive and nothing is written.
    ``select(name)`` picks members (e.g. the first N subjects). Files are written into a temporary
    folder inside ``dest`` and moved into place one by one with ``os.replace``, so a crash leaves
    only complete files. Returns the extracted paths.
    """
    archive, dest = Path(archive), Path(dest)
    if not archive.name.lower().endswith(ARCHIVE_SUFFIXES):
        raise ValueError(f"archive must end in one of {ARCHIVE_SUFFIXES}, got {archive.name!r}")
    if not archive.is_file():
        raise ValueError(f"archive not found: {archive}")
    try:
        members = _members(archive)
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as exc:
        raise DownloadError(
            f"{archive} is not a readable archive ({exc}); download it again"
        ) from exc
    files = []
    for name, kind in members:
        rel = _check_member(name, kind)
        if kind == "file" and (select is None or select(name)):
            files.append((name, rel))
    dest.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=dest, prefix=".extracting-"))
    out: list[Path] = []
    try:
        is_zip = archive.name.lower().endswith(".zip")
        opened = zipfile.ZipFile(archive) if is_zip else tarfile.open(archive)
        with opened as arc:
            for name, rel in tqdm(files, desc=f"extract {archive.name}", disable=not progressbar):
                tmp = staging.joinpath(*rel.parts)
                tmp.parent.mkdir(parents=True, exist_ok=True)
                src = arc.open(name) if is_zip else arc.extractfile(name)
                with src, open(tmp, "wb") as fh:
                    shutil.copyfileobj(src, fh, _CHUNK)
            for _, rel in files:
                final = dest.joinpath(*rel.parts)
                final.parent.mkdir(parents=True, exist_ok=True)
                os.replace(staging.joinpath(*rel.parts), final)
                out.append(final)
    except (tarfile.TarError, zipfile.BadZipFile, EOFError) as exc:
        raise DownloadError(
            f"{archive} is truncated or corrupt ({exc}); download it again"
        ) from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out
