"""Server behaviour the web client relies on, checked with protocol clients (no browser)."""

from __future__ import annotations

import asyncio

from playwright.async_api import Browser

from tests.web.conftest import Bot, Server, new_page


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


async def test_the_web_client_reads_a_batch_frame_as_its_messages_in_order(
    server: Server, browser: Browser
) -> None:
    """protocol.js: a batch frame dispatches each message, in order, as if each came alone;
    a reply inside a batch resolves its request."""
    _, page = await new_page(browser)
    await page.goto(server.url + "/")
    seen = await page.evaluate(
        """async () => {
          const { Connection } = await import("/static/protocol.js");
          const conn = new Connection("ws://127.0.0.1:9/ws");
          const seen = [];
          for (const type of ["speaking", "hand_raised", "tracks"]) {
            conn.addEventListener(type, (e) => seen.push([type, e.detail.participant || null]));
          }
          let resolved = null;
          conn.pending.set(7, { resolve: (msg) => { resolved = msg.type; }, reject: () => {},
                                timer: 0 });
          conn.receive(JSON.stringify({ type: "batch", messages: [
            { type: "hand_raised", participant: "p1", raised_at: 1 },
            { type: "speaking", dominant: null, speaking: [] },
            { type: "ok", id: 7 },
            { type: "hand_raised", participant: "p2", raised_at: 2 },
            "not a message",
          ] }));
          return { seen, resolved };
        }"""
    )
    assert seen["seen"] == [["hand_raised", "p1"], ["speaking", None], ["hand_raised", "p2"]]
    assert seen["resolved"] == "ok"


async def test_a_browser_without_simulcast_still_publishes_its_camera(
    server: Server, browser: Browser
) -> None:
    """Where addTransceiver refuses sendEncodings, the camera goes out in one layer."""
    room = await server.create_room(waiting_room=False)
    _, page = await new_page(browser)
    await page.add_init_script(
        """(() => {
          const add = RTCPeerConnection.prototype.addTransceiver;
          RTCPeerConnection.prototype.addTransceiver = function (what, init) {
            if (init && init.sendEncodings) throw new TypeError("no simulcast here");
            return add.call(this, what, init);
          };
        })()"""
    )
    await page.goto(server.link(room, "Мария Ивановна Петрова", "teacher"))
    await page.get_by_role("button", name="Войти", exact=True).click()
    await page.wait_for_function(
        "() => { const m = window.urok.client.media;"
        " return m.pc && m.pc.connectionState === 'connected'; }",
        timeout=15_000,
    )
    encodings = await page.evaluate(
        "window.urok.client.media.senders.get('camera').getParameters().encodings.length"
    )
    assert encodings == 1
    from signaling.ws import HUB

    sfu = server.app[HUB].media
    for _ in range(100):  # the SFU has her camera, as one plain track
        tracks = [t for t in sfu.rooms[room].tracks if t.source == "camera"]  # type: ignore[attr-defined]
        if tracks:
            break
        await asyncio.sleep(0.1)
    assert len(tracks) == 1 and tracks[0].layers == []
