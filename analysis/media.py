"""Local copies of stored footage for OpenCV, which can only read files on disk.

With local storage the stored file *is* on disk and is read in place. With S3 the object is
downloaded once into settings.EMO7ION_CACHE_DIR, keyed by its sha256, so the web process that
validates an upload and every worker that analyses a segment of it read the same local copy
instead of downloading it again per task.
"""
from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.files.storage import default_storage

log = logging.getLogger(__name__)

CHUNK = 1 << 20


class StoredFileMissing(Exception):
    """The storage no longer has the footage file (deleted by retention, or never arrived)."""


@dataclass(frozen=True)
class LocalCopy:
    path: Path
    sha256: str
    size_bytes: int


def cache_dir() -> Path:
    path = Path(settings.EMO7ION_CACHE_DIR) / "footage"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _suffix(name: str) -> str:
    # Keep the extension: some demuxers use it as a hint. Only a tame one, though.
    suffix = Path(name).suffix.lower()
    return suffix if re.fullmatch(r"\.[a-z0-9]{1,8}", suffix) else ""


def cached_path(sha256: str, name: str) -> Path:
    """Where the sha256-keyed local copy of a stored file lives (it may not exist)."""
    return cache_dir() / f"{sha256}{_suffix(name)}"


def _storage_path(name: str) -> Path | None:
    """The file's own path when the storage is on this machine's disk, else None."""
    try:
        return Path(default_storage.path(name))
    except NotImplementedError:
        return None


def _hash_file(path: Path) -> tuple[str, int]:
    h, size = hashlib.sha256(), 0
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


def _download(name: str, expected_sha256: str | None = None) -> LocalCopy:
    """Stream the object into the cache, hashing as it goes; rename into place only when whole,
    so a half-written copy is never mistaken for the footage."""
    h, size = hashlib.sha256(), 0
    fd, tmp = tempfile.mkstemp(dir=cache_dir(), prefix=".part-")
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                src = default_storage.open(name, "rb")
            except (FileNotFoundError, OSError) as exc:
                raise StoredFileMissing(f"The stored file {name} cannot be opened: {exc}") from exc
            with src:
                for chunk in iter(lambda: src.read(CHUNK), b""):
                    h.update(chunk)
                    size += len(chunk)
                    out.write(chunk)
        digest = h.hexdigest()
        if expected_sha256 and digest != expected_sha256:
            raise StoredFileMissing(f"The stored file {name} changed since it was validated (sha256 differs)")
        final = cached_path(digest, name)
        os.replace(tmp, final)
        return LocalCopy(final, digest, size)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def local_copy_of_new(name: str) -> LocalCopy:
    """For validation of a freshly stored file: its sha256, size and a local path to probe."""
    local = _storage_path(name)
    if local is not None:
        if not local.is_file():
            raise StoredFileMissing(f"The stored file {name} is missing")
        digest, size = _hash_file(local)
        return LocalCopy(local, digest, size)
    return _download(name)


def local_path_for(footage) -> Path:
    """A local path to read `footage` from, downloading it into the cache at most once."""
    if not footage.file or footage.file_deleted_at:
        raise StoredFileMissing("The footage file is no longer stored (removed by the retention policy?)")
    local = _storage_path(footage.file.name)
    if local is not None:
        if not local.is_file():
            raise StoredFileMissing(f"The stored file {footage.file.name} is missing")
        return local
    cached = cached_path(footage.sha256, footage.file.name)
    if footage.sha256 and cached.is_file() and cached.stat().st_size == footage.size_bytes:
        os.utime(cached)  # last use, for prune_cache
        return cached
    log.info("Downloading footage %s into the cache", footage.pk)
    return _download(footage.file.name, expected_sha256=footage.sha256 or None).path


@dataclass(frozen=True)
class PruneResult:
    removed: list[str]
    freed_bytes: int
    kept_bytes: int


def prune_cache(*, max_bytes: int, keep_recent_s: float = 3600.0, now: float | None = None) -> PruneResult:
    """Bring the footage cache under `max_bytes` by removing the copies least recently used first.

    A copy used within `keep_recent_s` is never removed, even over the cap: a worker may have just
    been handed its path. Leftover partial downloads older than that go first. Removed copies are
    downloaded again from storage when next needed, so pruning loses nothing.
    """
    now = time.time() if now is None else now
    entries = []
    for path in cache_dir().iterdir():
        try:
            st = path.stat()
        except FileNotFoundError:  # removed meanwhile by another process
            continue
        if path.is_file():
            entries.append((path.name.startswith(".part-"), st.st_mtime, st.st_size, path))
    total = sum(e[2] for e in entries)
    removed, freed = [], 0
    # Partial downloads first (True sorts after False, so negate), then oldest use first.
    for is_part, mtime, size, path in sorted(entries, key=lambda e: (not e[0], e[1])):
        if now - mtime < keep_recent_s:
            continue
        if not is_part and total - freed <= max_bytes:
            break
        path.unlink(missing_ok=True)
        removed.append(path.name)
        freed += size
    if removed:
        log.info("Footage cache: removed %d copies, %d bytes", len(removed), freed)
    return PruneResult(removed, freed, total - freed)
