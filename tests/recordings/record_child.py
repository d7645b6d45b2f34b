"""Child process for the kill -9 test: records a synthetic stage in real time until killed."""

from __future__ import annotations

import sys

from broadcast.pipeline import open_broadcast
from broadcast.synthetic import SyntheticStage
from recordings.storage import LocalStorage
from tests.recordings.conftest import SMALL


def main(root: str) -> None:
    pipeline = open_broadcast("crashme", SyntheticStage(2), LocalStorage(root), (SMALL,))
    pipeline.run_frames(30 * 600)  # ten minutes: the test kills it long before


if __name__ == "__main__":
    main(sys.argv[1])
