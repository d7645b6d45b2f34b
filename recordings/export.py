"""MP4 download of a recording: the segments remuxed by PyAV (no re-encode), streamed.

The output is a fragmented MP4 (moov first, then one fragment per keyframe interval), so the
first bytes leave as soon as the first segment is remuxed — a one-hour recording starts
downloading at once — and nothing is buffered beyond a few chunks.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import threading
from collections.abc import AsyncGenerator, Callable, Iterator

import av

from recordings.manifest import INIT, Manifest
from recordings.storage import Storage, make_key
from recordings.writer import read_index, read_manifest

logger = logging.getLogger(__name__)

_DONE = object()


class ExportError(Exception):
    """The recording cannot be exported (unknown, still recording, nothing landed)."""


class _ConcatReader(io.RawIOBase):
    """A read-only stream over init + segments, fetched from storage one file at a time."""

    def __init__(self, storage: Storage, keys: list[str]) -> None:
        super().__init__()
        self._storage = storage
        self._keys = iter(keys)
        self._buf = b""

    def readable(self) -> bool:
        return True

    def readinto(self, target: memoryview) -> int:  # type: ignore[override]
        while not self._buf:
            key = next(self._keys, None)
            if key is None:
                return 0
            self._buf = self._storage.read(key)
        n = min(len(target), len(self._buf))
        target[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n


class _ChunkSink(io.RawIOBase):
    """The muxer's output: every write is handed on at once."""

    def __init__(self, emit: Callable[[bytes], None]) -> None:
        super().__init__()
        self._emit = emit

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self._emit(bytes(data))
        return len(data)


def _source_keys(storage: Storage, manifest: Manifest, rendition: str | None) -> list[str]:
    if manifest.status == "recording":
        raise ExportError("the recording is still being written")
    info = manifest.rendition(rendition) if rendition else next(iter(manifest.renditions), None)
    if info is None:
        raise ExportError("no such rendition")
    records = read_index(storage, manifest.id, info.name)
    if not records:
        raise ExportError("the recording has no segments")
    keys = [make_key(manifest.id, info.name, INIT)]
    return keys + [make_key(manifest.id, info.name, r.name) for r in records]


def remux(
    storage: Storage, recording_id: str, emit: Callable[[bytes], None], rendition: str | None = None
) -> None:
    """Remux a closed recording into one MP4, calling ``emit`` with each chunk of output."""
    try:
        manifest = read_manifest(storage, recording_id)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ExportError(f"unknown recording {recording_id!r}") from exc
    keys = _source_keys(storage, manifest, rendition)
    options = {"movflags": "frag_keyframe+empty_moov+default_base_moof"}
    with (
        av.open(_ConcatReader(storage, keys), "r", format="mp4") as source,
        av.open(_ChunkSink(emit), "w", format="mp4", options=options) as target,
    ):
        if manifest.title:
            target.metadata["title"] = manifest.title
        mapping = {s.index: target.add_stream_from_template(s) for s in source.streams}
        for packet in source.demux():
            if packet.dts is None:
                continue  # the demuxer's end-of-stream marker
            packet.stream = mapping[packet.stream.index]
            target.mux(packet)


def export_chunks(
    storage: Storage, recording_id: str, rendition: str | None = None
) -> Iterator[bytes]:
    """The MP4 as a list of chunks (blocking; for small recordings and tests)."""
    chunks: list[bytes] = []
    remux(storage, recording_id, chunks.append, rendition)
    return iter(chunks)


async def stream_mp4(
    storage: Storage, recording_id: str, rendition: str | None = None, max_chunks: int = 16
) -> AsyncGenerator[bytes, None]:
    """The MP4 as an async stream: remuxed in a thread, back-pressured by a bounded queue.

    Raises :class:`ExportError` before the first chunk if the recording cannot be exported.
    Closing the iterator early (client went away) stops the remux.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[object] = asyncio.Queue(max_chunks)
    cancelled = threading.Event()

    def emit(chunk: bytes) -> None:
        if cancelled.is_set():
            raise ExportError("download cancelled")
        asyncio.run_coroutine_threadsafe(queue.put(chunk), loop).result()

    def work() -> None:
        try:
            remux(storage, recording_id, emit, rendition)
            outcome: object = _DONE
        except Exception as exc:  # handed to the consumer, re-raised there
            outcome = exc
        with contextlib.suppress(RuntimeError):
            asyncio.run_coroutine_threadsafe(queue.put(outcome), loop).result()

    worker = loop.run_in_executor(None, work)
    try:
        while (item := await queue.get()) is not _DONE:
            if isinstance(item, Exception):
                raise item
            assert isinstance(item, bytes)
            yield item
    finally:
        cancelled.set()
        while not worker.done():  # unblock a producer waiting on a full queue
            with contextlib.suppress(asyncio.QueueEmpty):
                queue.get_nowait()
            await asyncio.sleep(0.01)
