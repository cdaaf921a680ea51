"""Sources: where frames come from.

:func:`open_source` takes a string, as ffmpeg's ``-i`` does: a media file, a URL (rtsp, rtmp,
udp, tcp, srt, http(s)/hls: whatever PyAV opens), ``lavfi:GRAPH`` test sources, a camera
(``camera:0``, ``/dev/video0``), an image sequence (``frames/%05d.png`` or a glob), a still
image, or ``-`` for stdin. Sources yield decoded RGB frames with their timestamps; audio and
subtitle packets of the same container come in demux order too, so a sink can remux them
without a second demux. A *live* source (camera, network stream, lavfi) produces frames at
its own pace; the pipeline then keeps only the newest frame when it falls behind.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO, Protocol, TypeVar

import av
import av.error

from streamstyle.errors import DecodeError, NoVideoStreamError
from streamstyle.io.av_errors import error_reason, input_error
from streamstyle.io.media import Frame, VideoInfo, read_image

log = logging.getLogger(__name__)


LIVE_INPUT_OPTIONS = {"analyzeduration": "500000"}
"""FFmpeg options for live network inputs: probe half a second, not five (a user's ``options`` override)."""


class Source(Protocol):
    """What the pipeline reads from."""

    info: VideoInfo
    side_streams: list[av.stream.Stream]
    corrupt_packets: int
    live: bool

    def read(self) -> Iterator[Frame | av.Packet]: ...
    def close(self) -> None: ...
    def __enter__(self) -> Source: ...
    def __exit__(self, *exc: object) -> None: ...


class ImageSource:
    """A still image as a one-frame source (EXIF orientation applied)."""

    def __init__(self, path: Path) -> None:
        self.side_streams: list[av.stream.Stream] = []
        self.corrupt_packets = 0
        self.live = False
        self._rgb = read_image(path)
        height, width = self._rgb.shape[:2]
        self.info = VideoInfo(width, height, Fraction(1, 25), Fraction(25), 1, None, 0, {})

    def read(self) -> Iterator[Frame]:
        yield Frame(self._rgb, 0, 1)

    def close(self) -> None:
        """Nothing to release: the image was read on open."""

    def __enter__(self) -> ImageSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class MediaSource:
    """A PyAV container: the first video stream is decoded, audio/subtitles passed as packets.

    The first frame is decoded on open, so a broken input fails here rather than mid-run.
    Corrupt packets are skipped and counted in :attr:`corrupt_packets`.

    Args:
        url: what :func:`av.open` opens: a path, a URL, a lavfi graph, or a binary file object.
        name: how errors name the input (default ``url``).
        format, options: FFmpeg input format and its options.
        timeout: seconds to wait for the input to open and for each read (network inputs).
        realtime: deliver frames no faster than their timestamps.
        live: frames arrive in real time (see :func:`open_source`).
        start: a stream time in seconds: decode from the key frame at or before it (a piece of a split video).
    """

    def __init__(
        self,
        url: str | BinaryIO,
        *,
        name: str | None = None,
        format: str | None = None,
        options: Mapping[str, str] | None = None,
        timeout: float = 15.0,
        realtime: bool = False,
        live: bool = False,
        start: float | None = None,
    ) -> None:
        label = name or str(url)
        self._start = start
        self.live = live
        self._realtime = realtime
        self._clock: tuple[float, float] | None = None  # (wall, stream time) of the first delivered frame
        try:
            self._container = _interruptible(
                lambda: av.open(url, format=format, options=dict(options or {}), timeout=(timeout, timeout))
            )
        except (av.error.FFmpegError, UnicodeDecodeError) as exc:
            raise input_error(exc, label, timeout=timeout) from None
        try:
            self._open_streams(label)
        except BaseException:
            self._container.close()
            raise

    def _open_streams(self, url: str) -> None:
        container = self._container
        if not container.streams.video:
            raise NoVideoStreamError(f"no video stream in {url}")
        self._video = container.streams.video[0]
        self._video.thread_type = "SLICE" if self.live else "AUTO"  # frame threads hold frames back: latency
        self.side_streams = [s for s in container.streams if s.type in ("audio", "subtitle")]
        self.corrupt_packets = 0
        self._last_pts: int | None = None
        if self._start is not None:
            container.seek(round(self._start / self._video.time_base), stream=self._video, backward=True)
        self._packets = container.demux([self._video, *self.side_streams])
        self._items = self._decode_packets()
        self._pending: list[Frame | av.Packet] = []
        first = self._first_frame(url)
        ctx = self._video.codec_context
        time_base = self._video.time_base or Fraction(1, 90000)
        duration = (
            float(self._video.duration * time_base)
            if self._video.duration
            else (container.duration / av.time_base if container.duration else None)
        )
        rate = self._video.average_rate or self._video.guessed_rate
        self.info = VideoInfo(
            width=first.width,
            height=first.height,
            time_base=time_base,
            frame_rate=Fraction(rate) if rate else None,
            frame_count=self._video.frames,
            duration=duration,
            rotation=round(first.rotation),
            color={
                "colorspace": ctx.colorspace,
                "color_primaries": ctx.color_primaries,
                "color_trc": ctx.color_trc,
                "color_range": ctx.color_range,
            },
        )

    def _first_frame(self, url: str) -> av.VideoFrame:
        """Demux until a frame decodes; keep everything read meanwhile for :meth:`read`."""
        for item in self._items:
            if isinstance(item, av.Packet):
                self._pending.append(item)
                continue
            self._pending.append(self._to_decoded(item))
            return item
        raise DecodeError(f"no video frame could be decoded from {url}")

    def _decode_packets(self) -> Iterator[av.VideoFrame | av.Packet]:
        video = self._video
        try:
            for packet in self._packets:
                if packet.stream is not video:
                    if packet.dts is not None:
                        yield packet
                    continue
                try:
                    yield from video.decode(packet)
                except av.error.FFmpegError as exc:
                    self.corrupt_packets += 1
                    log.debug("skipped a corrupt packet at dts %s: %s", packet.dts, error_reason(exc))
        except av.error.FFmpegError as exc:
            if self.live:
                log.warning("the stream dropped: %s", error_reason(exc))
                return
            self.corrupt_packets += 1
            log.warning("input ends early (truncated or corrupt): %s", error_reason(exc))
        with contextlib.suppress(av.error.EOFError):  # already drained by the demuxer's final empty packet
            yield from video.decode(None)

    def _to_decoded(self, frame: av.VideoFrame) -> Frame:
        pts = frame.pts
        if pts is None or (self._last_pts is not None and pts <= self._last_pts):
            step = frame.duration or 1
            pts = 0 if self._last_pts is None else self._last_pts + step
        self._last_pts = pts
        return Frame(frame.to_ndarray(format="rgb24"), pts, frame.duration or None)

    def read(self) -> Iterator[Frame | av.Packet]:
        """Yield decoded frames and side-stream packets in demux order, once."""
        pending, self._pending = self._pending, []
        for item in pending:
            yield self._paced(item)
        for item in self._items:
            yield item if isinstance(item, av.Packet) else self._paced(self._to_decoded(item))
        if not self.live:
            self._warn_if_short()

    def _paced(self, item: Frame | av.Packet) -> Frame | av.Packet:
        """With ``realtime``, wait until a frame's time has come on the wall clock."""
        if not self._realtime or not isinstance(item, Frame):
            return item
        stamp = float(item.pts * self.info.time_base)
        if self._clock is None:
            self._clock = (time.monotonic(), stamp)
        delay = self._clock[0] + (stamp - self._clock[1]) - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        return Frame(item.rgb, item.pts, item.duration)

    def _warn_if_short(self) -> None:
        """Warn when the decoded video ends well before the duration the container announced."""
        expected, rate = self.info.duration, float(self.info.frame_rate or 25)
        if expected is None or self._last_pts is None:
            return
        decoded_end = float(self._last_pts * self.info.time_base) + 1 / rate
        if decoded_end < expected - max(0.5, 2 / rate):
            log.warning("input ends early at %.2f s of %.2f s (truncated?); kept what decoded", decoded_end, expected)

    def close(self) -> None:
        self._container.close()

    def __enter__(self) -> MediaSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


T = TypeVar("T")


def _interruptible(call: Callable[[], T]) -> T:
    """Run a blocking FFmpeg call (opening a network input) so that Ctrl-C/SIGTERM stop the wait at once.

    FFmpeg waits in C, where Python's signal handlers do not run until it returns (up to the
    timeout, or for ever). In the main thread the call runs in a helper thread instead, and
    the main thread waits in an interruptible way; an abandoned call ends at its own timeout.
    """
    if threading.current_thread() is not threading.main_thread():
        return call()
    outcome: list[tuple[bool, object]] = []

    def work() -> None:
        try:
            outcome.append((True, call()))
        except BaseException as exc:
            outcome.append((False, exc))

    helper = threading.Thread(target=work, name="streamstyle-open", daemon=True)
    helper.start()
    helper.join()  # Ctrl-C raises KeyboardInterrupt here
    succeeded, value = outcome[0]
    if not succeeded:
        raise value  # type: ignore[misc]
    return value  # type: ignore[return-value]
