"""Resumable, verified downloads (through pooch) and archive extraction that cannot escape its target.

:func:`download` hands the transfer to :func:`pooch.retrieve`, which writes to a temporary file,
checks the hash and moves the file into place only if it matches. Our downloader plugs into pooch
to add what pooch lacks: **resume** (an HTTP ``Range`` request continues a hidden ``.NAME.part``
file after an interruption, under ``If-Range`` with the ETag or Last-Modified stored beside it, so
a file changed on the server is downloaded whole, never spliced), ``file://`` URLs (lab mirrors,
tests) and a **format check** (a truncated ``.nii.gz``, ``.tar``, ``.zip`` or ``.npz`` is refused
before it reaches its final name). Only ``http(s)://`` and ``file://`` are supported.

Where the publisher documents a checksum (MedMNIST's MD5s) it is used; where none is published
(IXI, SynthRAD2023) the file is checked by size and format only, and the user may pass a SHA-256.

:func:`safe_extract` checks **every** member of a tar or zip before writing anything: absolute
paths, ``..`` components, links and device files, and members inside a file member are refused,
and so is a symbolic link (or a file) in the target where a folder is needed. Members are written
into a temporary folder inside the target and each is moved into place atomically.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import logging
import os
import re
import shutil
import stat
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlparse

import pooch
from tqdm.auto import tqdm

from medgen_nb.data.io import load_nifti
from medgen_nb.utils import atomic_write

_CHUNK = 1 << 20  # 1 MiB
# Small network reads: an interrupted read loses at most one chunk of the resumable part.
_HTTP_CHUNK = 1 << 16
ARCHIVE_SUFFIXES: tuple[str, ...] = (".tar", ".tar.gz", ".tgz", ".zip")


class DownloadError(OSError):
    """A download failed, was truncated, or did not match its checksum or format."""


class UnsafeArchiveError(ValueError):
    """An archive member would be written outside the target folder, is a link or device, has
    to live below another member that is a file, or meets a link or a file in the target."""


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


SUPPORTED_SCHEMES: tuple[str, ...] = ("http", "https", "file")


def check_url(url: str) -> str:
    """Return ``url`` if its scheme is one :func:`download` supports, else raise ``ValueError``.

    Only ``http://``, ``https://`` and ``file://`` are supported: these resume safely and are
    format-checked. ``ftp://``, ``sftp://`` and ``doi:`` URLs are refused up front (fetch such a
    file yourself and pass ``Path(p).as_uri()``), as is a bare path.
    """
    if not isinstance(url, str):
        raise TypeError(f"url must be a str such as 'https://...', got {type(url).__name__}")
    parts = urlparse(url)
    scheme = parts.scheme.lower()
    if scheme in ("http", "https") and not parts.hostname:
        raise ValueError(f"url {url!r} names no host; expected e.g. 'https://zenodo.org/...'")
    if scheme not in SUPPORTED_SCHEMES:
        what = f"scheme {scheme!r}" if scheme else "no scheme"
        raise ValueError(
            f"url {url!r} has {what}; download supports "
            f"{', '.join(s + '://' for s in SUPPORTED_SCHEMES)} only. For ftp://, sftp:// or doi:, "
            "fetch the file with another tool and pass its file:// URL (pathlib.Path(p).as_uri())"
        )
    return url


def validator_path(dest: Path) -> Path:
    """The small JSON file beside :func:`part_path` that records which version the part holds."""
    part = part_path(Path(dest))
    return part.with_name(f"{part.name}.json")


def _http_validator(headers) -> dict[str, str] | None:
    """The strong validator of a response, for ``If-Range``: its ETag, else its Last-Modified.

    A weak ETag (``W/"..."``) may not be used in ``If-Range`` (RFC 9110 13.1.5).
    """
    etag = headers.get("ETag")
    if etag and not etag.startswith("W/"):
        return {"ETag": etag}
    modified = headers.get("Last-Modified")
    return {"Last-Modified": modified} if modified else None


def _content_range(headers) -> tuple[int | None, int | None]:
    """(first byte, total size) from ``Content-Range: bytes A-B/N`` or ``bytes */N``."""
    m = re.fullmatch(r"\s*bytes\s+(?:(\d+)-\d+|\*)/(\d+|\*)\s*", headers.get("Content-Range", ""))
    if m is None:
        return None, None
    first, total = m.groups()
    return (int(first) if first else None), (int(total) if total != "*" else None)


def _unreachable_reason(exc: BaseException) -> str:
    """A short reason (``Connection refused``, ``name not resolved``...) from a requests error."""
    text = str(exc)
    m = re.search(r"\[Errno -?\d+\] ([^'\")\]]+)", text)
    if m:
        return m.group(1).strip()
    if "resolve" in text.lower():
        return "host name not resolved"
    return type(exc).__name__


class ResumableDownloader:
    """A pooch downloader that resumes into ``part`` and checks size and format before handing over.

    A resume continues the part only when the server proves it still serves the same version:
    the first response's ETag (or Last-Modified) is stored atomically beside the part (see
    :func:`validator_path`) and sent back as ``If-Range``; a ``200`` answer (the file changed),
    a ``206`` of another version or for other bytes, or a missing validator starts from zero.
    ``file://`` sources are compared by size and modification time.

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
        self.meta = self.part.with_name(f"{self.part.name}.json")

    def __call__(self, url: str, output_file: str, pooch_obj: object = None) -> None:
        check_url(url)
        if urlparse(url).scheme.lower() == "file":
            self._fetch_file(url)
        else:
            self._fetch_http(url)
        size = self.part.stat().st_size
        if self.expected_size is not None and size != self.expected_size:
            self.discard()
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
                self.discard()
                raise
            except BaseException:  # e.g. Ctrl-C while checking a large file: keep it for a rerun
                os.replace(probe, self.part)
                raise
            os.replace(probe, self.part)
        os.replace(self.part, output_file)
        self.discard()

    def discard(self) -> None:
        """Remove the part and its validator (a fresh start next time)."""
        for path in (self.part, self.meta):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    def _resumable(self, url: str) -> tuple[int, dict[str, str] | None]:
        """Bytes already in the part and the validator they were fetched under; ``(0, None)``
        (and a discarded part) when they cannot be trusted to continue ``url``."""
        if not self.part.exists():
            self.discard()
            return 0, None
        try:
            stored = json.loads(self.meta.read_text())
            validator = stored["validator"]
            ok = stored["url"] == url and isinstance(validator, dict) and len(validator) == 1
        except (OSError, ValueError, KeyError, TypeError):
            ok = False
        have = self.part.stat().st_size
        if not ok or have == 0:
            self.discard()
            return 0, None
        return have, validator

    def _start(self, url: str, validator: dict[str, str] | None) -> None:
        """Begin a fresh part: record ``validator`` first (atomically), then empty the part."""
        with contextlib.suppress(FileNotFoundError):
            self.meta.unlink()
        self.part.write_bytes(b"")
        if validator is not None:
            with atomic_write(self.meta, "w") as fh:
                json.dump({"url": url, "validator": validator}, fh)

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

        have, validator = self._resumable(url)
        host = urlparse(url).netloc
        for _ in range(2):  # at most: one refused resume, one fresh transfer
            headers = {"Accept-Encoding": "identity"}  # byte ranges of the file itself
            if have:
                headers["Range"] = f"bytes={have}-"
                headers["If-Range"] = next(iter(validator.values()))
            answered = False
            try:
                with requests.get(url, stream=True, headers=headers, timeout=self.timeout) as resp:
                    answered = True
                    if have:
                        verdict = self._resume_verdict(resp, have, validator)
                        if verdict == "complete":
                            return
                        if verdict == "restart":  # another version or other bytes: start over
                            self.discard()
                            have, validator = 0, None
                            continue
                    if resp.status_code >= 400:
                        raise DownloadError(
                            f"{url} answered HTTP {resp.status_code} {resp.reason}: check the URL "
                            "(or whether the server needs a login)"
                        )
                    if resp.status_code != 206:
                        have = 0
                        self._start(url, _http_validator(resp.headers))
                    length = resp.headers.get("Content-Length")
                    total = have + int(length) if length is not None else None
                    with open(self.part, "ab") as fh, self._bar(total, have, url) as bar:
                        for chunk in resp.iter_content(_HTTP_CHUNK):
                            fh.write(chunk)
                            bar.update(len(chunk))
            except requests.RequestException as exc:
                raise self._interrupted(url, host, exc, answered) from exc
            got = self.part.stat().st_size
            if total is not None and got < total:
                raise self._interrupted(url, host, None, True, f"stopped at {got} of {total} bytes")
            return
        raise DownloadError(f"{url}: the download could not be restarted; try again later")

    @staticmethod
    def _resume_verdict(resp, have: int, validator: dict[str, str]) -> str:
        """For the answer to a Range request: ``"complete"`` (the part holds the whole file),
        ``"restart"`` (it cannot be continued) or ``"proceed"`` (a 206 that continues the part,
        or a 200/error that the caller handles as a fresh answer)."""
        first, total = _content_range(resp.headers)
        if resp.status_code == 416:  # nothing after ``have``: complete only if the sizes agree
            return "complete" if total == have else "restart"
        if resp.status_code != 206:
            return "proceed"
        ((key, value),) = validator.items()
        sent = resp.headers.get(key)
        if first != have or (sent is not None and sent != value):
            return "restart"  # bytes from another offset, or a server that ignored If-Range
        return "proceed"

    def _interrupted(
        self, url: str, host: str, exc: BaseException | None, answered: bool, what: str = ""
    ) -> DownloadError:
        """The error for a transfer that ended early; drops a part that can never be resumed."""
        import requests

        if not answered:  # no response at all: the part (if any) is untouched
            kept = self.part.stat().st_size if self.part.exists() else 0
            tail = f"; the {kept} bytes so far are kept to resume" if kept else ""
            if isinstance(exc, requests.ConnectionError):
                return DownloadError(
                    f"cannot reach {host} ({_unreachable_reason(exc)}) to download {url}{tail}: "
                    "check the network connection (or use a mirror URL) and run the same command "
                    "again"
                )
            return DownloadError(
                f"could not request {url} ({type(exc).__name__}: {exc}){tail}: check the URL"
            )
        got = self.part.stat().st_size if self.part.exists() else 0
        what = what or f"was interrupted after {got} bytes ({type(exc).__name__})"
        if self.meta.exists():
            return DownloadError(
                f"download of {url} {what}; the bytes so far are kept in {self.part}: run the "
                "same command again to resume"
            )
        self.discard()
        return DownloadError(
            f"download of {url} {what}; the server sends no ETag or Last-Modified, so the bytes "
            "cannot be resumed safely and were removed: run the same command again to start over"
        )

    def _fetch_file(self, url: str) -> None:
        src = Path(unquote(urlparse(url).path))
        if not src.is_file():
            raise DownloadError(f"{url}: no such file")
        st = src.stat()
        validator = {"file": f"{st.st_size}:{st.st_mtime_ns}"}
        have, stored = self._resumable(url)
        if stored != validator or have > st.st_size:
            self.discard()
            have = 0
        if not have:
            self._start(url, validator)
        with open(src, "rb") as fin, open(self.part, "ab") as fout:
            fin.seek(have)
            with self._bar(st.st_size, have, url) as bar:
                while chunk := fin.read(_CHUNK):
                    fout.write(chunk)
                    bar.update(len(chunk))


def _normalise_hash(known_hash: str | None) -> str | None:
    """``"ALG:HEX"`` for pooch from ``"sha256:HEX"``, ``"md5:HEX"`` or a bare SHA-256 digest."""
    if known_hash is None:
        return None
    if not isinstance(known_hash, str):
        raise TypeError(f"known_hash must be a str or None, got {type(known_hash).__name__}")
    alg, sep, digest = known_hash.strip().rpartition(":")
    alg = alg.lower() if sep else "sha256"
    sizes = {"sha256": 64, "md5": 32, "sha1": 40, "sha512": 128}
    digest = digest.lower()
    if (
        alg not in sizes
        or len(digest) != sizes[alg]
        or any(c not in "0123456789abcdef" for c in digest)
    ):
        raise ValueError(
            "known_hash must be 'sha256:HEX', 'md5:HEX' (also sha1, sha512) or a 64-digit "
            f"SHA-256 in hex digits, got {known_hash!r}"
        )
    return f"{alg}:{digest}"


@contextlib.contextmanager
def _exclusive(dest: Path) -> Iterator[None]:
    """Hold the hidden ``.NAME.part.lock`` beside ``dest`` while downloading it, so that two
    processes never append to one part. POSIX advisory lock (released if the process dies);
    on systems without ``fcntl`` (Windows) nothing is locked."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    lock = part_path(dest).with_name(f"{part_path(dest).name}.lock")
    for _ in range(3):  # the lock file may be removed by a holder finishing just now
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise DownloadError(
                f"another process is downloading {dest.name} into {dest.parent} right now: wait "
                f"for it to finish, then run this again (it holds {lock})"
            ) from None
        try:
            same = os.stat(lock).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    else:
        raise DownloadError(f"could not lock {lock}; run this again")
    try:
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(lock)
        os.close(fd)


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
        url: ``http(s)://`` or ``file://``. Other schemes (ftp, sftp, doi) raise ``ValueError``:
            fetch such files yourself and pass their ``file://`` URL.
        dest: final file path; an existing file is re-used when it passes ``known_hash``.
        known_hash: ``"sha256:HEX"``, ``"md5:HEX"`` or a bare SHA-256 hex digest; None to skip.
        expected_size: total size in bytes, if known.
        check: format check on the complete bytes before they get their final name.

    An interrupted transfer keeps its bytes (``part_path(dest)``) and the server's ETag or
    Last-Modified (``validator_path(dest)``); the next call resumes only if the server still
    serves that version, and downloads the file whole otherwise. While a process downloads
    ``dest``, another one asking for it gets a ``DownloadError`` (POSIX lock file) instead of
    appending to the same part.

    Raises:
        ValueError: unsupported URL scheme or malformed ``known_hash`` (before any transfer).
        DownloadError: unreachable host, interrupted (bytes kept for resume), truncated, wrong
            size/format or checksum mismatch (bytes removed). ``dest`` never holds a partial or
            unverified file.
    """
    check_url(url)
    known_hash = _normalise_hash(known_hash)
    dest = Path(dest)
    if dest.is_file() and known_hash is None:
        return dest  # verified when it was written; pass known_hash to re-check
    dest.parent.mkdir(parents=True, exist_ok=True)
    downloader = ResumableDownloader(part_path(dest), expected_size, check, progressbar)
    logger = pooch.get_logger()  # our progress bar names the file; errors say what to do
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        with _exclusive(dest):
            pooch.retrieve(
                url, known_hash, fname=dest.name, path=dest.parent, downloader=downloader
            )
    except ValueError as exc:  # pooch's hash mismatch
        downloader.discard()
        if "hash" not in str(exc).lower():
            raise
        raise DownloadError(
            f"checksum mismatch for {dest.name} from {url}: expected {known_hash}; the file was "
            "removed. The server may hold a different version: check the URL and the checksum"
        ) from exc
    finally:
        logger.setLevel(level)
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
    if kind == "file" and not path.parts:
        raise UnsafeArchiveError(f"archive member {name!r} is a file but has no file name")
    return path


def _check_layout(members: list[tuple[str, str, PurePosixPath]]) -> None:
    """Refuse an archive where a member would have to be written inside a file member.

    ``a`` (a file) and ``a/b`` (a file or folder) cannot both exist on disk, whatever their order.
    """
    files = {rel: name for name, kind, rel in members if kind == "file"}
    for name, _, rel in members:
        for parent in list(rel.parents)[:-1]:  # the last parent is "."
            if parent in files:
                raise UnsafeArchiveError(
                    f"archive member {files[parent]!r} is a file, but member {name!r} would have "
                    "to be written inside it; the archive is malformed, refusing it whole "
                    "(nothing was extracted)"
                )


def _target(dest: Path, rel: PurePosixPath, name: str, create: bool = False) -> Path:
    """Where member ``name`` goes below ``dest``, refusing links and files in the way.

    Every folder between ``dest`` and the file must be a real folder (made if ``create``), not a
    symbolic link (which could point anywhere) nor a file; the file's own place must not be a
    link or a folder. ``dest`` itself may be a link (a data folder on another disk).
    """
    here = dest
    for part in rel.parts[:-1]:
        here = here / part
        if create and not os.path.lexists(here):
            with contextlib.suppress(FileExistsError):
                here.mkdir()
        if here.is_symlink():
            raise UnsafeArchiveError(
                f"{here} is a symbolic link; safe_extract does not write through links (archive "
                f"member {name!r}): remove the link, or extract to another folder"
            )
        if os.path.lexists(here) and not here.is_dir():
            raise UnsafeArchiveError(
                f"{here} is a file, but archive member {name!r} needs a folder there: move that "
                "file away, or extract to another folder"
            )
    final = here / rel.parts[-1]
    if final.is_symlink():
        raise UnsafeArchiveError(
            f"{final} is a symbolic link; safe_extract does not replace links (archive member "
            f"{name!r}): remove the link, or extract to another folder"
        )
    if final.is_dir():
        raise UnsafeArchiveError(
            f"{final} is a folder, but archive member {name!r} is a file: move that folder away, "
            "or extract to another folder"
        )
    return final


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


def list_members(archive: str | os.PathLike) -> list[str]:
    """The member names of a ``.tar``, ``.tar.gz``/``.tgz`` or ``.zip``, in archive order.

    Raises:
        DownloadError: the archive is missing, truncated or not an archive.
    """
    archive = Path(archive)
    try:
        return [name for name, _ in _members(archive)]
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as exc:
        raise DownloadError(
            f"{archive} is not a readable archive ({type(exc).__name__}: {exc}); download it again"
        ) from exc


def safe_extract(
    archive: str | os.PathLike,
    dest: str | os.PathLike,
    select: Callable[[str], bool] | None = None,
    progressbar: bool = True,
) -> list[Path]:
    """Extract the regular files of a ``.tar``, ``.tar.gz``/``.tgz`` or ``.zip`` into ``dest``.

    Every member is checked first; one unsafe member refuses the archive and nothing is written:
    absolute or ``..`` paths, links and devices, a member inside a file member (``a`` and
    ``a/b``), and a symbolic link or a file in ``dest`` where a folder is needed (links are
    never written through). A member named twice is written once (the last copy, as ``tar``).
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
    checked = [(name, kind, _check_member(name, kind)) for name, kind in members]
    _check_layout(checked)
    picked: dict[PurePosixPath, str] = {}  # a name given twice is written once, the last wins
    for name, kind, rel in checked:
        if kind == "file" and (select is None or select(name)):
            picked[rel] = name
    files = [(name, rel) for rel, name in picked.items()]
    for name, rel in files:  # before writing anything: no link or file in the way
        _target(dest, rel, name)
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
            for name, rel in files:
                final = _target(dest, rel, name, create=True)  # checked again as it is written
                os.replace(staging.joinpath(*rel.parts), final)
                out.append(final)
    except (tarfile.TarError, zipfile.BadZipFile, EOFError) as exc:
        raise DownloadError(
            f"{archive} is truncated or corrupt ({exc}); download it again"
        ) from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out
