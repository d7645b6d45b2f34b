"""Where recordings live: a small storage interface and the local-directory implementation.

Keys are ``<recording id>/<name>`` or ``<recording id>/<rendition>/<name>``; every component is
checked against a strict pattern, so no key can leave the storage root. An S3-compatible store
would implement the same :class:`Storage` protocol (``local_path`` returning None).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

logger = logging.getLogger(__name__)

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}(\.[A-Za-z0-9]{1,8}){0,2}")


class BadKey(ValueError):
    """A recording id or file name that is not allowed (traversal, odd characters, too long)."""


def valid_id(value: str) -> bool:
    """True for ids such as ``lesson-2024_05`` (letters, digits, ``-``, ``_``; 1..64)."""
    return _ID.fullmatch(value) is not None


def valid_name(value: str) -> bool:
    """True for file names such as ``seg_000001.m4s`` or ``init.mp4``; never ``..``."""
    return _NAME.fullmatch(value) is not None


def make_key(recording_id: str, *parts: str) -> str:
    """Join checked components into a storage key; raises :class:`BadKey`."""
    if not valid_id(recording_id):
        raise BadKey(f"bad recording id {recording_id!r}")
    for part in parts[:-1]:
        if not valid_id(part):
            raise BadKey(f"bad folder {part!r}")
    if parts and not valid_name(parts[-1]):
        raise BadKey(f"bad file name {parts[-1]!r}")
    return "/".join((recording_id, *parts))


class Storage(Protocol):
    """Blob storage for recording files, addressed by keys from :func:`make_key`."""

    def write_atomic(self, key: str, data: bytes) -> None: ...

    def append(self, key: str, data: bytes) -> None: ...

    def read(self, key: str) -> bytes: ...

    def exists(self, key: str) -> bool: ...

    def size(self, key: str) -> int: ...

    def recording_ids(self) -> list[str]: ...

    def delete_recording(self, recording_id: str) -> None: ...

    def local_path(self, key: str) -> Path | None: ...


class LocalStorage:
    """Recordings under one directory (default ./data/recordings); writes are temp + rename."""

    def __init__(self, root: str | os.PathLike[str] = "data/recordings") -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        parts = key.split("/")
        make_key(*parts)  # re-check: keys may come from outside
        return self.root.joinpath(*parts)

    def write_atomic(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
        try:
            os.fchmod(fd, 0o644)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    def append(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("ab") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())

    def read(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def size(self, key: str) -> int:
        return self._path(key).stat().st_size

    def recording_ids(self) -> list[str]:
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and valid_id(p.name))

    def delete_recording(self, recording_id: str) -> None:
        path = self._path(make_key(recording_id))
        shutil.rmtree(path, ignore_errors=True)

    def local_path(self, key: str) -> Path | None:
        return self._path(key)


def iter_lines(data: bytes) -> Iterator[bytes]:
    """Complete lines of an append-only file; a torn last line (crash mid-append) is dropped."""
    lines = data.split(b"\n")
    yield from (line for line in lines[:-1] if line.strip())
