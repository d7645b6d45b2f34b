"""Last-N video in fixed receive slots: priority order, and no renegotiation for others' joins."""

from __future__ import annotations

from sfu.api import TileView
from sfu.server import SFU
from tests.sfu.peers import ROOM, Peer, payload, rtp_packet, wait_for

CAM = frozenset({"camera"})


def shown(peer: Peer) -> set[str]:
    return {t.participant_id for t in peer.tracks.tracks} if peer.tracks else set()


async def test_last_n_picks_in_priority_order_and_joins_do_not_renegotiate() -> None:
    sfu = SFU(ice_addresses=("127.0.0.1",), last_n=2)
    sfu.start()
    a, b, c, d = (Peer(sfu, name, CAM) for name in ("a", "b", "c", "d"))
    sub = Peer(sfu, "sub")
    try:
        for peer in (a, b, c):
            await peer.join(["video"])
        await sub.join(["audio"], direction="recvonly")
        await wait_for(lambda: shown(sub) == {"a", "b"} and sub.offers_answered >= 1)
        offers = sub.offers_answered

        sfu.set_view(ROOM, "sub", (TileView("c", "camera", 320, 180),))  # c is on its page
        await wait_for(lambda: shown(sub) == {"c", "a"})
        sfu.set_host(ROOM, "b", True)  # the host comes first
        await wait_for(lambda: shown(sub) == {"b", "c"})
        await d.join(["video"])  # another camera joins: nothing for sub to renegotiate
        await wait_for(lambda: any(t.owner == "d" for t in sfu.rooms[ROOM].tracks))
        assert shown(sub) == {"b", "c"}
        assert sub.offers_answered == offers

        mid = next(t.mid for t in sub.tracks.tracks if t.participant_id == "c")  # type: ignore[union-attr]
        ssrc = sub.ssrc_of_mid(mid)
        body = payload(1)
        await c.send(rtp_packet(96, 7, 9000, c.local_ssrcs()["video"], body))
        await wait_for(lambda: any(p[12:] == body for p in sub.received.from_ssrc(ssrc)))
    finally:
        for peer in (a, b, c, d, sub):
            await peer.close()
        await sfu.close()
