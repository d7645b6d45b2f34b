"""The boundary between signaling and the recorder (recordings/ + the compositor).

Signaling decides who may start and stop a recording and tells every participant; the recorder
subscribes to the room's media like any subscriber and writes the segments.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class RecordingInfo:
    """What the recorder needs to file a recording in the library."""

    room_id: str
    title: str
    org: str | None
    group: str | None
    owner: str | None
    kind: str  # "call" or "broadcast"
    public: bool = False  # a broadcast anyone with the link may watch (and replay)


class RecorderError(Exception):
    """A recording that cannot start; ``code`` is a stable protocol error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# called by the recorder when a running recording fails (code, message)
OnProblem = Callable[[str, str], None]


class Recorder(Protocol):
    """Starts and stops the recording of a room."""

    async def start(self, info: RecordingInfo, on_problem: OnProblem) -> str:
        """Start recording; return the recording id. Raises RecorderError."""

    async def stop(self, room_id: str) -> None:
        """Stop and close the recording (idempotent); it then appears in the library."""

    def set_layout(self, room_id: str, layout: str) -> None:
        """The composite's layout ("speaker" or "grid"); kept for a later start too."""

    async def close(self) -> None:
        """Stop every recording."""


class NoRecorder:
    """Used when this server has no recorder: a clear error instead of a silent no-op."""

    async def start(self, info: RecordingInfo, on_problem: OnProblem) -> str:
        raise RecorderError("recording_unavailable", "this server cannot record")

    async def stop(self, room_id: str) -> None:
        return None

    def set_layout(self, room_id: str, layout: str) -> None:
        return None

    async def close(self) -> None:
        return None
