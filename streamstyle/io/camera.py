"""Cameras: ``camera:N`` or ``/dev/videoN``, through FFmpeg's device input or OpenCV.

FFmpeg's device formats (v4l2 on Linux, avfoundation on macOS, dshow on Windows) are used
where the installed PyAV has them; PyPI's PyAV wheels usually do not, so OpenCV's
``VideoCapture`` is the fallback. Either way the camera is a live source.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator
from fractions import Fraction

import av
import cv2
import numpy as np

from streamstyle.errors import InputNotFoundError, InvalidMediaError, StreamStyleError
from streamstyle.io.media import Frame, VideoInfo
from streamstyle.io.sources import MediaSource, Source

log = logging.getLogger(__name__)

DEVICE_FORMATS = {"linux": "v4l2", "darwin": "avfoundation", "win32": "dshow"}
"""FFmpeg's camera input format per platform."""

CAMERA_TIME_BASE = Fraction(1, 1000)
"""OpenCV cameras are stamped with the wall clock, in milliseconds."""


def open_camera(
    device: str, *, size: tuple[int, int] | None = None, rate: float | None = None, timeout: float = 15.0
) -> Source:
    """Open camera ``device`` (an index or a device path) at ``size`` and ``rate`` where it can.

    Raises:
        InputNotFoundError: no such camera, or no backend can open it.
    """
    device_format = DEVICE_FORMATS.get(sys.platform)
    if device_format in av.formats_available:
        options = {"video_size": f"{size[0]}x{size[1]}"} if size else {}
        if rate:
            options["framerate"] = f"{rate:g}"
        url = _ffmpeg_device_name(device, device_format)
        try:
            return MediaSource(url, format=device_format, options=options, timeout=timeout, live=True)
        except StreamStyleError as exc:
            log.info("FFmpeg's %s cannot open camera %s (%s); trying OpenCV", device_format, device, exc)
    return OpenCVCamera(int(device) if device.isdigit() else device, size=size, rate=rate)


def _ffmpeg_device_name(device: str, device_format: str) -> str:
    if not device.isdigit():
        return device
    if device_format == "v4l2":
        return f"/dev/video{device}"
    if device_format == "avfoundation":
        return f"{device}:none"
    return f"video={device}"  # dshow wants a name; an index rarely works, OpenCV then takes over


class OpenCVCamera:
    """A camera (or anything ``cv2.VideoCapture`` opens) as a live source stamped by the wall clock.

    Args:
        device: camera index, device path, or any ``cv2.VideoCapture`` argument.
        size: requested capture size; the camera may choose another, and ``info`` tells which.
        rate: requested frames per second.

    Raises:
        InputNotFoundError: the capture cannot be opened or gives no frame.
    """

    def __init__(self, device: int | str, *, size: tuple[int, int] | None = None, rate: float | None = None) -> None:
        self.side_streams: list[av.stream.Stream] = []
        self.corrupt_packets = 0
        self.live = True
        previous = cv2.utils.logging.getLogLevel()
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)  # its "can't open" lines are ours to say
        try:
            self._capture = cv2.VideoCapture(device)
            if size:
                self._capture.set(cv2.CAP_PROP_FRAME_WIDTH, size[0])
                self._capture.set(cv2.CAP_PROP_FRAME_HEIGHT, size[1])
            if rate:
                self._capture.set(cv2.CAP_PROP_FPS, rate)
            ok, first = self._capture.read() if self._capture.isOpened() else (False, None)
        finally:
            cv2.utils.logging.setLogLevel(previous)
        if not ok or first is None:
            self._capture.release()
            raise InputNotFoundError(f"cannot open camera {device}: no such device, or it is busy")
        self._started = time.monotonic()
        self._first = Frame(cv2.cvtColor(first, cv2.COLOR_BGR2RGB), 0, None)
        height, width = first.shape[:2]
        fps = self._capture.get(cv2.CAP_PROP_FPS) or rate or 30
        self.info = VideoInfo(width, height, CAMERA_TIME_BASE, Fraction(fps).limit_denominator(1001), 0, None, 0, {})

    def read(self) -> Iterator[Frame]:
        """Frames until the camera stops delivering."""
        yield self._first
        last = 0
        while True:
            ok, bgr = self._capture.read()
            if not ok:
                return
            if bgr.ndim != 3 or bgr.shape[2] != 3:
                raise InvalidMediaError(f"the camera delivers frames of shape {bgr.shape}, not colour images")
            pts = max(last + 1, round((time.monotonic() - self._started) / CAMERA_TIME_BASE))
            last = pts
            yield Frame(np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)), pts, None)

    def close(self) -> None:
        self._capture.release()

    def __enter__(self) -> OpenCVCamera:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
