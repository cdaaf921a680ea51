"""Reconnecting network input: the output goes on when the stream drops and comes back.

When the stream fails or ends, the source reopens it with exponential backoff until it is
back or ``give_up`` seconds have passed; then it ends cleanly. Timestamps continue across a
reconnection (shifted by the wall-clock gap), so the output keeps playing in time; frames of
a new connection with another size are resized to the first one's.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from fractions import Fraction

import av
import cv2
import numpy as np

from streamstyle.errors import StreamStyleError
from streamstyle.io.media import Frame
from streamstyle.io.sources import MediaSource

log = logging.getLogger(__name__)

FIRST_DELAY = 0.25
MAX_DELAY = 4.0
"""Backoff between attempts: doubling from ``FIRST_DELAY`` seconds up to ``MAX_DELAY``."""


class ReconnectingSource:
    """A live source that reopens ``connect()`` after a drop or end of stream.

    Args:
        connect: opens the stream (raising a :class:`StreamStyleError` when it cannot); called
            once here, so a stream that is not there at the start fails at once.
        give_up: seconds without a connection after which the source ends.

    Attributes:
        reconnections: how many times the stream came back.
    """

    def __init__(self, connect: Callable[[], MediaSource], *, give_up: float = 30.0) -> None:
        self._connect = connect
        self._give_up = give_up
        self._source: MediaSource | None = connect()
        self.info = self._source.info
        self.side_streams = self._source.side_streams
        self.live = True
        self.reconnections = 0
        self._corrupt_before = 0

    @property
    def corrupt_packets(self) -> int:
        return self._corrupt_before + (self._source.corrupt_packets if self._source else 0)

    def read(self) -> Iterator[Frame | av.Packet]:
        """Frames and packets of every connection, timestamps continuing, until it gives up."""
        time_base = self.info.time_base
        offset = 0  # added to a connection's pts, in the first connection's time base
        last_pts: int | None = None
        last_wall = time.monotonic()
        while self._source is not None:
            source, rebased = self._source, last_pts is None
            for item in source.read():
                if isinstance(item, av.Packet):
                    if rebased:  # audio of a new connection waits for its first frame, which sets the offset
                        yield _shifted(item, offset * time_base)
                    continue
                pts = round(item.pts * source.info.time_base / time_base)
                if not rebased:  # the first frame after a reconnection continues after the gap
                    gap = round((time.monotonic() - last_wall) / time_base)
                    offset = (last_pts or 0) + max(1, gap) - pts
                    rebased = True
                last_pts, last_wall = pts + offset, time.monotonic()
                yield Frame(self._fit(item.rgb), last_pts, item.duration, item.arrived)
            self._corrupt_before += source.corrupt_packets
            source.close()
            self._source = self._reconnect()

    def _fit(self, rgb: np.ndarray) -> np.ndarray:
        height, width = rgb.shape[:2]
        if (width, height) == (self.info.width, self.info.height):
            return rgb
        return cv2.resize(rgb, (self.info.width, self.info.height), interpolation=cv2.INTER_AREA)

    def _reconnect(self) -> MediaSource | None:
        started, delay = time.monotonic(), FIRST_DELAY
        log.warning("the input stream stopped; reconnecting for up to %g s", self._give_up)
        while time.monotonic() - started < self._give_up:
            try:
                source = self._connect()
            except StreamStyleError as exc:
                log.info("reconnecting: %s", exc)
                time.sleep(min(delay, max(0.0, self._give_up - (time.monotonic() - started))))
                delay = min(2 * delay, MAX_DELAY)
                continue
            self.reconnections += 1
            log.warning("the input stream is back (reconnection %d)", self.reconnections)
            return source
        log.warning("the input stream did not come back within %g s; ending", self._give_up)
        return None

    def close(self) -> None:
        if self._source is not None:
            self._source.close()
            self._source = None

    def __enter__(self) -> ReconnectingSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _shifted(packet: av.Packet, seconds: Fraction) -> av.Packet:
    """``packet`` with its timestamps moved by ``seconds``."""
    if seconds and packet.time_base:
        shift = round(seconds / packet.time_base)
        if packet.pts is not None:
            packet.pts += shift
        if packet.dts is not None:
            packet.dts += shift
    return packet
