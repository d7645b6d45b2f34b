"""aiohttp piece for MP4 downloads; access rules stay with the caller (signaling's REST)."""

from __future__ import annotations

import logging
from urllib.parse import quote

from aiohttp import web

from recordings.export import ExportError, stream_mp4
from recordings.storage import Storage, valid_id

logger = logging.getLogger(__name__)


async def mp4_response(
    request: web.Request, storage: Storage, recording_id: str, filename: str = "recording.mp4"
) -> web.StreamResponse:
    """Stream a recording as one MP4 download (remuxed on the fly, no Content-Length).

    Call it after checking the requester's rights. Unknown or bad ids: 404; a recording still
    being written or without segments: 409. Range requests are answered with the whole file
    (``Accept-Ranges: none``): the remux has no byte offsets to seek to.
    """
    if not valid_id(recording_id):
        raise web.HTTPNotFound()
    chunks = stream_mp4(storage, recording_id)
    try:
        first = await anext(chunks)
    except ExportError as exc:
        await chunks.aclose()
        status = web.HTTPNotFound if "unknown" in str(exc) else web.HTTPConflict
        raise status(text=str(exc)) from None
    response = web.StreamResponse(
        headers={
            "Content-Type": "video/mp4",
            "Content-Disposition": _disposition(filename),
            "Accept-Ranges": "none",
            "Cache-Control": "private, no-store",
        }
    )
    await response.prepare(request)
    try:
        await response.write(first)
        async for chunk in chunks:
            await response.write(chunk)
    finally:
        await chunks.aclose()
    await response.write_eof()
    return response


def _disposition(name: str) -> str:
    """ASCII fallback plus the UTF-8 name (RFC 6266 / 5987): titles are often Russian."""
    cleaned = "".join(c for c in name if c.isalnum() or c in "._- ")
    ascii_name = "".join(c for c in cleaned if c.isascii()).strip(" .") or "recording"
    if not ascii_name.endswith(".mp4"):
        ascii_name += ".mp4"
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(cleaned or ascii_name)}"
