"""Sources: where frames come from.

:func:`open_source` opens a media file or URL with PyAV (or a still image with Pillow) and
yields decoded RGB frames with their timestamps. Audio and subtitle packets of the same
container are yielded in demux order too, so a sink can remux them without a second demux.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Protocol

import av
import av.error
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from streamstyle.errors import DecodeError, InputNotFoundError, InvalidMediaError, NoVideoStreamError

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"})
"""File name endings that are treated as still images rather than video."""


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
    """One decoded frame: RGB pixels ``(H, W, 3)`` uint8 and its timing in the source's time base."""

    rgb: np.ndarray
    pts: int
    duration: int | None


class Source(Protocol):
    """What the pipeline reads from."""

    info: VideoInfo
    side_streams: list[av.stream.Stream]
    corrupt_packets: int

    def read(self) -> Iterator[DecodedFrame | av.Packet]: ...
    def close(self) -> None: ...
    def __enter__(self) -> Source: ...
    def __exit__(self, *exc: object) -> None: ...


def open_source(url: str | Path) -> Source:
    """Open a video file, URL or still image for reading.

    Args:
        url: a path or anything PyAV (FFmpeg) opens, e.g. ``https://...`` or ``rtsp://...``.

    Raises:
        InputNotFoundError: a local path that does not exist.
        InvalidMediaError: the input is not media FFmpeg or Pillow can read.
        NoVideoStreamError: the input holds no video stream.
        DecodeError: the input holds a video stream but not one frame decodes.
    """
    text = str(url)
    is_url = "://" in text
    path = Path(text)
    if not is_url and not path.exists():
        raise InputNotFoundError(f"input not found: {text}")
    if not is_url and path.is_dir():
        raise InvalidMediaError(f"input is a folder, not a media file: {text}")
    if not is_url and path.suffix.lower() in IMAGE_SUFFIXES:
        return ImageSource(path)
    return MediaSource(text)


class ImageSource:
    """A still image as a one-frame source (EXIF orientation applied)."""

    def __init__(self, path: Path) -> None:
        self.side_streams: list[av.stream.Stream] = []
        self.corrupt_packets = 0
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
    """

    def __init__(self, url: str) -> None:
        try:
            self._container = av.open(url, timeout=(15.0, 15.0))
        except av.error.FileNotFoundError:
            raise InputNotFoundError(f"input not found: {url}") from None
        except (av.error.FFmpegError, UnicodeDecodeError) as exc:
            raise InvalidMediaError(f"not a readable media file: {url} ({_reason(exc)})") from None
        try:
            self._open_streams(url)
        except BaseException:
            self._container.close()
            raise

    def _open_streams(self, url: str) -> None:
        container = self._container
        if not container.streams.video:
            raise NoVideoStreamError(f"no video stream in {url}")
        self._video = container.streams.video[0]
        self._video.thread_type = "AUTO"
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
                    log.debug("skipped a corrupt packet at dts %s: %s", packet.dts, _reason(exc))
        except av.error.FFmpegError as exc:
            self.corrupt_packets += 1
            log.warning("input ends early (truncated or corrupt): %s", _reason(exc))
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
        yield from pending
        for item in self._items:
            yield item if isinstance(item, av.Packet) else self._to_decoded(item)
        self._warn_if_short()

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


def _reason(exc: BaseException) -> str:
    """The human part of an FFmpeg error, without errno and file name noise."""
    strerror = getattr(exc, "strerror", None)
    return strerror or str(exc)
