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
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO, Protocol
from urllib.parse import urlparse

import av
import av.error
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from streamstyle.errors import DecodeError, InputNotFoundError, InvalidMediaError, NoVideoStreamError, StreamError

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"})
"""File name endings that are treated as still images rather than video."""

LIVE_SCHEMES = frozenset({"rtsp", "rtsps", "rtmp", "rtmps", "udp", "tcp", "srt", "rtp"})
"""URL schemes of live network streams: frames arrive in real time and may be dropped when behind."""

NETWORK_ERRORS = (
    av.error.ExitError,  # PyAV's timeout interrupted FFmpeg
    av.error.TimeoutError,
    av.error.ConnectionRefusedError,
    av.error.ConnectionResetError,
    av.error.ConnectionAbortedError,
    av.error.BrokenPipeError,
)
LIVE_INPUT_OPTIONS = {"analyzeduration": "500000"}
"""FFmpeg options for live network inputs: probe half a second, not five (a user's ``options`` override)."""
LAVFI_PREFIX = "lavfi:"
STDIN = "-"


@dataclass(frozen=True)
class VideoInfo:
    """What a sink needs to know about the video it receives.

    Attributes:
        width, height: stored frame size in pixels (before any display rotation).
        time_base: unit of the frames' ``pts``, in seconds.
        frame_rate: average frame rate, if the container states one.
        frame_count: number of frames the container announces (0 if unknown).
        duration: stream duration in seconds, if known.
        rotation: counter-clockwise display rotation in degrees from the display matrix.
        color: colour tags of the input (``colorspace``, ``color_primaries``, ``color_trc``,
            ``color_range``) as FFmpeg enum values, so the output is tagged the same way.
    """

    width: int
    height: int
    time_base: Fraction
    frame_rate: Fraction | None
    frame_count: int
    duration: float | None
    rotation: int
    color: dict[str, int]


@dataclass(frozen=True)
class DecodedFrame:
    """One decoded frame: RGB pixels ``(H, W, 3)`` uint8, its timing in the source's time base,
    and when it arrived (``time.monotonic()``), for latency figures."""

    rgb: np.ndarray
    pts: int
    duration: int | None
    arrived: float = field(default_factory=time.monotonic)


class Source(Protocol):
    """What the pipeline reads from."""

    info: VideoInfo
    side_streams: list[av.stream.Stream]
    corrupt_packets: int
    live: bool

    def read(self) -> Iterator[DecodedFrame | av.Packet]: ...
    def close(self) -> None: ...
    def __enter__(self) -> Source: ...
    def __exit__(self, *exc: object) -> None: ...


def open_source(
    url: str | Path,
    *,
    format: str | None = None,
    options: Mapping[str, str] | None = None,
    size: tuple[int, int] | None = None,
    rate: float | None = None,
    timeout: float = 15.0,
    realtime: bool = False,
    live: bool | None = None,
) -> Source:
    """Open a video file, URL, camera, test source, image sequence, still image or stdin.

    Args:
        url: a path; a URL PyAV opens (``rtsp://``, ``udp://``, ``tcp://...?listen=1``, ...);
            ``lavfi:testsrc=size=640x360:rate=30``; ``camera:0`` or ``/dev/video0``; an image
            sequence ``frames/%05d.png`` or ``frames/*.png``; ``-`` for stdin.
        format: force the FFmpeg input format (``-f`` of ffmpeg), e.g. ``mpegts`` for stdin.
        options: FFmpeg options of the input format or protocol, e.g. ``{"rtsp_flags": "listen"}``.
        size: camera capture size ``(width, height)``.
        rate: camera capture rate, or the frame rate of an image sequence (default 25).
        timeout: seconds to wait for a network input to open, and for each read.
        realtime: deliver frames no faster than their timestamps (as ffmpeg's ``-re``); lavfi
            sources always do.
        live: treat as live (drop frames when behind); default: cameras, lavfi and network streams.

    Raises:
        InputNotFoundError: a local path or camera that does not exist.
        InvalidMediaError: the input is not media FFmpeg or Pillow can read.
        NoVideoStreamError: the input holds no video stream.
        DecodeError: the input holds a video stream but not one frame decodes.
        StreamError: a network input cannot be opened within ``timeout``.
    """
    from streamstyle.capture import camera_device, open_camera
    from streamstyle.sequences import ImageSequenceSource, is_sequence_pattern

    text = str(url)
    options = dict(options or {})
    if text == STDIN:
        return MediaSource(sys.stdin.buffer, name="stdin", format=format, options=options, live=bool(live))
    if text.startswith(LAVFI_PREFIX):
        graph = text.removeprefix(LAVFI_PREFIX)
        return MediaSource(graph, format="lavfi", options=options, realtime=True, live=live is not False)
    device = camera_device(text)
    if device is not None:
        return open_camera(device, size=size, rate=rate, timeout=timeout)
    scheme = urlparse(text).scheme.lower() if "://" in text else ""
    if scheme:
        if scheme in ("rtsp", "rtsps") and options.get("rtsp_flags") == "listen":
            options.setdefault("listen_timeout", str(round(timeout)))  # FFmpeg's default fails to listen
        is_live = scheme in LIVE_SCHEMES if live is None else live
        if is_live:  # start after a short probe instead of buffering seconds of stream
            options = LIVE_INPUT_OPTIONS | options
        return MediaSource(text, format=format, options=options, timeout=timeout, realtime=realtime, live=is_live)
    if is_sequence_pattern(text):
        return ImageSequenceSource(text, rate=rate or 25.0)
    path = Path(text)
    if not path.exists():
        raise InputNotFoundError(f"input not found: {text}")
    if path.is_dir():
        raise InvalidMediaError(f"input is a folder, not a media file: {text}")
    if path.suffix.lower() in IMAGE_SUFFIXES and format is None:
        return ImageSource(path)
    return MediaSource(text, format=format, options=options, realtime=realtime, live=bool(live))


class ImageSource:
    """A still image as a one-frame source (EXIF orientation applied)."""

    def __init__(self, path: Path) -> None:
        self.side_streams: list[av.stream.Stream] = []
        self.corrupt_packets = 0
        self.live = False
        try:
            with Image.open(path) as image:
                self._rgb = np.asarray(ImageOps.exif_transpose(image).convert("RGB"))
        except (UnidentifiedImageError, OSError) as exc:
            raise InvalidMediaError(f"cannot read image {path}: {exc}") from None
        height, width = self._rgb.shape[:2]
        self.info = VideoInfo(width, height, Fraction(1, 25), Fraction(25), 1, None, 0, {})

    def read(self) -> Iterator[DecodedFrame]:
        yield DecodedFrame(self._rgb, 0, 1)

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
    ) -> None:
        label = name or str(url)
        self.live = live
        self._realtime = realtime
        self._clock: tuple[float, float] | None = None  # (wall, stream time) of the first delivered frame
        try:
            self._container = av.open(url, format=format, options=dict(options or {}), timeout=(timeout, timeout))
        except av.error.FileNotFoundError:
            raise InputNotFoundError(f"input not found: {label}") from None
        except NETWORK_ERRORS as exc:
            reason = error_reason(exc)
            raise StreamError(f"cannot open {label}: {reason} (nothing to read within {timeout:g} s?)") from None
        except (av.error.FFmpegError, UnicodeDecodeError) as exc:
            raise InvalidMediaError(f"not a readable media file: {label} ({error_reason(exc)})") from None
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
        self._packets = container.demux([self._video, *self.side_streams])
        self._items = self._decode_packets()
        self._pending: list[DecodedFrame | av.Packet] = []
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

    def _to_decoded(self, frame: av.VideoFrame) -> DecodedFrame:
        pts = frame.pts
        if pts is None or (self._last_pts is not None and pts <= self._last_pts):
            step = frame.duration or 1
            pts = 0 if self._last_pts is None else self._last_pts + step
        self._last_pts = pts
        return DecodedFrame(frame.to_ndarray(format="rgb24"), pts, frame.duration or None)

    def read(self) -> Iterator[DecodedFrame | av.Packet]:
        """Yield decoded frames and side-stream packets in demux order, once."""
        pending, self._pending = self._pending, []
        for item in pending:
            yield self._paced(item)
        for item in self._items:
            yield item if isinstance(item, av.Packet) else self._paced(self._to_decoded(item))
        if not self.live:
            self._warn_if_short()

    def _paced(self, item: DecodedFrame | av.Packet) -> DecodedFrame | av.Packet:
        """With ``realtime``, wait until a frame's time has come on the wall clock."""
        if not self._realtime or not isinstance(item, DecodedFrame):
            return item
        stamp = float(item.pts * self.info.time_base)
        if self._clock is None:
            self._clock = (time.monotonic(), stamp)
        delay = self._clock[0] + (stamp - self._clock[1]) - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        return DecodedFrame(item.rgb, item.pts, item.duration)

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


def error_reason(exc: BaseException) -> str:
    """The human part of an FFmpeg error, without errno and file name noise."""
    strerror = getattr(exc, "strerror", None)
    return strerror or str(exc)
