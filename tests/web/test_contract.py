"""Server behaviour the web client relies on, checked with protocol clients (no browser)."""

from __future__ import annotations

import asyncio

from tests.web.conftest import Bot, Server


async def test_nothing_about_a_removed_participant_follows_their_departure(server: Server) -> None:
    room = await server.create_room(waiting_room=False)
    teacher = await Bot.join(server, room, "Мария Ивановна Петрова", "teacher")
    student = await Bot.join(server, room, "Иван Сидоров")
    await teacher.request("remove", participant=student.me)
    await asyncio.sleep(0.5)  # the student's socket closes; nothing more may be said of them
    about = [f for f in teacher.frames if student.me in (f.get("participant"), _pid(f))]
    kinds = [f["type"] for f in about]
    assert kinds[-1] == "participant_left", kinds
    await teacher.close()
    await student.close()


def _pid(frame: dict[str, object]) -> object:
    inner = frame.get("participant")
    return inner.get("id") if isinstance(inner, dict) else None
