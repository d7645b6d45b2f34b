"""Cost of choosing what every subscriber receives in a lesson of 300 (last-N + loudest-K +
simulcast layers): one `Room.select` over all participants, as runs after every publish, leave
or change of the speakers. No network: real SFU objects, tracks without packets.

    python -m bench.select [--json] [--participants 300] [--cameras 31]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from bench.common import print_result
from sfu.forwarder import CodecInfo, Track
from sfu.participant import Participant
from sfu.server import SFU
from sfu.transport import Transport

VP8 = CodecInfo("video", "VP8", "vp8/90000/0/", 90000, 96)
OPUS = CodecInfo("audio", "opus", "opus/48000/2/", 48000, 111, channels=2)


def _ignore(event: object) -> None:
    return None


async def measure(participants: int, cameras: int, rounds: int) -> dict[str, Any]:
    sfu = SFU(ice_addresses=("127.0.0.1",))
    sfu.start()
    try:
        room = sfu._room("bench")
        people = []
        for i in range(participants):
            transport = Transport(f"bench/p{i}", sfu.mux, sfu._cert, sfu.counters)
            p = Participant(room, f"p{i}", frozenset({"mic", "camera"}), _ignore, transport)
            p.answered_once = True
            room.participants[p.id] = p
            people.append(p)
        for i, p in enumerate(people):
            room.tracks.append(Track(p.id, "mic", OPUS, p.transport, room.tx))
            if i < cameras:
                video = Track(p.id, "camera", VP8, p.transport, room.tx)
                video.add_layers(["l", "m", "h"], frozenset())
                room.tracks.append(video)
        started = time.perf_counter()
        room.select()  # fills every slot for the first time
        first = time.perf_counter() - started
        started = time.perf_counter()
        for _ in range(rounds):
            room.select()
        steady = (time.perf_counter() - started) / rounds
        return {
            "participants": participants,
            "cameras": cameras,
            "select_first_ms": round(first * 1000, 1),
            "select_ms": round(steady * 1000, 2),
            "select_us_per_participant": round(steady * 1e6 / participants, 1),
        }
    finally:
        await sfu.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--participants", type=int, default=300)
    parser.add_argument("--cameras", type=int, default=31)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    result = asyncio.run(measure(args.participants, args.cameras, args.rounds))
    print_result(result, args.json)


if __name__ == "__main__":
    main()
