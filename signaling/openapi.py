"""The OpenAPI 3.1 document, built from the same msgspec types the handlers decode and encode."""

from __future__ import annotations

from typing import Any

import msgspec

from signaling import audience, calendar, library, rest

# (method, path) -> (summary, request type or None, success status, response type, auth needed);
# a response type of None means no body (204)
OPERATIONS: dict[tuple[str, str], tuple[str, type | None, int, type | None, bool]] = {
    ("POST", "/api/rooms"): ("Create a room", rest.RoomCreate, 201, rest.RoomView, True),
    ("GET", "/api/rooms"): ("List rooms the caller may see", None, 200, rest.RoomList, True),
    ("GET", "/api/rooms/{room_id}"): ("Get a room", None, 200, rest.RoomView, True),
    ("PATCH", "/api/rooms/{room_id}"): ("Change a room", rest.RoomPatch, 200, rest.RoomView, True),
    ("POST", "/api/rooms/{room_id}/end"): ("End a room", None, 200, rest.RoomView, True),
    ("GET", "/api/rooms/{room_id}/participants"): (
        "List a room's participants",
        None,
        200,
        rest.ParticipantList,
        True,
    ),
    ("GET", "/api/rooms/{room_id}/info"): ("Public room info", None, 200, rest.RoomPublic, False),
    ("POST", "/api/tokens"): ("Mint a join token", rest.TokenRequest, 201, rest.TokenView, True),
    ("POST", "/api/invites"): (
        "Create an invite link",
        rest.InviteCreate,
        201,
        rest.InviteView,
        True,
    ),
    ("GET", "/api/invites"): ("List invite links", None, 200, rest.InviteList, True),
    ("DELETE", "/api/invites/{invite_id}"): (
        "Revoke an invite link",
        None,
        200,
        rest.InviteView,
        True,
    ),
    ("POST", "/api/invites/{invite_id}/redeem"): (
        "Use an invite link: returns a join token",
        rest.RedeemRequest,
        201,
        rest.RedeemView,
        False,
    ),
    ("PUT", "/api/orgs/{org}/webhook"): (
        "Set the school's webhook endpoint",
        rest.WebhookSet,
        200,
        rest.WebhookView,
        True,
    ),
    ("GET", "/api/orgs/{org}/webhook"): ("The webhook endpoint", None, 200, rest.WebhookView, True),
    ("DELETE", "/api/orgs/{org}/webhook"): (
        "Remove the webhook endpoint",
        None,
        200,
        rest.WebhookView,
        True,
    ),
    ("POST", "/api/calendar/link"): (
        "A calendar (.ics) feed URL: one's own lessons, a class's, or the school's",
        calendar.FeedRequest,
        201,
        calendar.FeedView,
        True,
    ),
    ("POST", "/api/broadcasts/{room_id}/viewers"): (
        "Viewer heartbeat (every 20 s); returns the broadcast's state and viewer count",
        audience.Heartbeat,
        200,
        audience.BroadcastState,
        False,
    ),
    ("GET", "/api/broadcasts/{room_id}"): (
        "A broadcast's public state",
        None,
        200,
        audience.BroadcastState,
        False,
    ),
    ("POST", "/api/broadcasts/{room_id}/questions"): (
        "A registered viewer asks a question or comments",
        audience.QuestionIn,
        201,
        audience.Question,
        True,
    ),
    ("GET", "/api/broadcasts/{room_id}/questions"): (
        "Questions: the public list, or all (hidden too) for the broadcast's hosts",
        None,
        200,
        audience.QuestionList,
        False,
    ),
    ("PATCH", "/api/broadcasts/{room_id}/questions/{question_id}"): (
        "Hide, answer or pin a question (hosts)",
        audience.QuestionPatch,
        200,
        audience.Question,
        True,
    ),
    ("GET", "/api/library"): (
        "The video library: recordings the caller may see",
        None,
        200,
        library.LibraryList,
        True,
    ),
    ("GET", "/api/library/{recording_id}"): (
        "One recording",
        None,
        200,
        library.LibraryItem,
        True,
    ),
    ("PATCH", "/api/library/{recording_id}"): (
        "Rename a recording (admin or owner)",
        library.Rename,
        200,
        library.LibraryItem,
        True,
    ),
    ("DELETE", "/api/library/{recording_id}"): (
        "Delete a recording (admin or owner)",
        None,
        204,
        None,
        True,
    ),
    ("PUT", "/api/orgs/{org}/retention"): (
        "How many days the school keeps recordings (null: forever)",
        library.Retention,
        200,
        library.RetentionView,
        True,
    ),
}

REF = "#/components/schemas/{name}"


def _ref(kind: type) -> dict[str, Any]:
    return {"$ref": REF.format(name=kind.__name__)}


def _params(path: str) -> list[dict[str, Any]]:
    names = [part[1:-1] for part in path.split("/") if part.startswith("{")]
    return [
        {"name": n, "in": "path", "required": True, "schema": {"type": "string"}} for n in names
    ]


# (method, path) -> (summary, media type): downloads that are not JSON
BINARY: dict[tuple[str, str], tuple[str, str]] = {
    ("GET", "/api/library/{recording_id}/download.mp4"): (
        "The recording as one MP4 (remuxed, streamed); also takes ?token=",
        "video/mp4",
    ),
    ("GET", "/api/library/{recording_id}/thumbnail.jpg"): (
        "A picture from the middle of the recording; also takes ?token=",
        "image/jpeg",
    ),
}


def _operation(
    summary: str, req: type | None, status: int, resp: type | None, secured: bool
) -> Any:
    ok: dict[str, Any] = {"description": "success"}
    if resp is not None:
        ok["content"] = _json(resp)
    op: dict[str, Any] = {
        "summary": summary,
        "responses": {
            str(status): ok,
            "default": {"description": "error", "content": _json(rest.ErrorBody)},
        },
    }
    if req is not None:
        op["requestBody"] = {"required": True, "content": _json(req)}
    op["security"] = [{"bearer": []}] if secured else []
    return op


def _json(kind: type) -> dict[str, Any]:
    return {"application/json": {"schema": _ref(kind)}}


def document() -> dict[str, Any]:
    kinds: set[type] = {
        k for (_, req, _, resp, _) in OPERATIONS.values() for k in (req, resp) if k is not None
    }
    kinds.add(rest.ErrorBody)
    _, components = msgspec.json.schema_components(sorted(kinds, key=str), ref_template=REF)
    paths: dict[str, dict[str, Any]] = {}
    for (method, path), spec in OPERATIONS.items():
        entry = paths.setdefault(path, {"parameters": _params(path)})
        entry[method.lower()] = _operation(*spec)
    for (method, path), (summary, media) in BINARY.items():
        entry = paths.setdefault(path, {"parameters": _params(path)})
        entry[method.lower()] = {
            "summary": summary,
            "security": [{"bearer": []}],
            "responses": {
                "200": {"description": "success", "content": {media: {}}},
                "default": {"description": "error", "content": _json(rest.ErrorBody)},
            },
        }
    return {
        "openapi": "3.1.0",
        "info": {"title": "urok", "version": "1"},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "an API key, or an administrator's or teacher's join token",
                }
            },
        },
    }
