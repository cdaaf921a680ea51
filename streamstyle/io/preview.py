"""The preview window (OpenCV): the stylised frames with an fps/latency overlay; it reports key presses.

What a key does is decided above the I/O layer (:class:`~streamstyle.controls.LiveControls`).

OpenCV's GUI aborts the whole process when it cannot reach a display, so the window is
first opened in a short-lived child process: a missing display or a headless OpenCV build
becomes a clear :class:`~streamstyle.errors.BackendUnavailableError` instead.
"""

from __future__ import annotations

import collections
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence

import av
import cv2
import numpy as np

from streamstyle.errors import BackendUnavailableError
from streamstyle.io.media import Frame

_PROBE = "import cv2; cv2.namedWindow('streamstyle'); cv2.waitKey(1); cv2.destroyAllWindows()"


def check_window_backend() -> None:
    """Raise :class:`BackendUnavailableError` unless OpenCV can open a window here."""
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise BackendUnavailableError("no display for the preview window (DISPLAY is not set); use -o instead")
    probe = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=60)
    if probe.returncode != 0:
        lines = [line for line in probe.stderr.splitlines() if line.strip()]
        reason = lines[-1].strip() if lines else f"exit status {probe.returncode}"
        raise BackendUnavailableError(f"OpenCV cannot open a preview window here: {reason}")


def draw_overlay(bgr: np.ndarray, lines: Sequence[str]) -> np.ndarray:
    """Write ``lines`` in the top-left corner of a BGR frame (on a dark band, so it stays readable)."""
    scale = max(0.4, bgr.shape[0] / 720)
    height = round(22 * scale)
    out = bgr.copy()
    band = out[: height * len(lines) + 8, : round(420 * scale)]
    band[:] = (band * 0.4).astype(np.uint8)
    for row, text in enumerate(lines):
        origin = (6, height * (row + 1))
        cv2.putText(out, text, origin, cv2.FONT_HERSHEY_SIMPLEX, 0.55 * scale, (255, 255, 255), 1, cv2.LINE_AA)
    return out


class PreviewWindow:
    """Shows frames in a window and reports the keys pressed in it.

    Args:
        title: window title.
        on_key: called with each key code (``q`` when the window is closed; -1 for none).
        status: returns further overlay lines (dropped frames, style settings).

    Raises:
        BackendUnavailableError: no display, or an OpenCV build without a GUI.
    """

    def __init__(
        self,
        title: str,
        on_key: Callable[[int], None] | None = None,
        status: Callable[[], list[str]] | None = None,
    ) -> None:
        check_window_backend()
        self.title = title
        self._on_key = on_key
        self._status = status
        self._shown: collections.deque[float] = collections.deque(maxlen=30)
        self._opened = False

    def write(self, frames: Sequence[Frame]) -> None:
        for frame in frames:
            if not self._opened:  # created by the thread that draws into it
                cv2.namedWindow(self.title, cv2.WINDOW_NORMAL)
                self._opened = True
            now = time.monotonic()
            self._shown.append(now)
            bgr = cv2.cvtColor(frame.rgb, cv2.COLOR_RGB2BGR)
            cv2.imshow(self.title, draw_overlay(bgr, self.status(now - frame.arrived)))
            key = cv2.waitKey(1)
            closed = cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) < 1
            if self._on_key is not None:
                self._on_key(ord("q") if closed else key)

    def status(self, latency: float) -> list[str]:
        """The overlay's lines: fps over the last frames and latency, then those of ``status``."""
        span = self._shown[-1] - self._shown[0] if len(self._shown) > 1 else 0.0
        fps = (len(self._shown) - 1) / span if span > 0 else 0.0
        lines = [f"{fps:.1f} fps   latency {latency * 1000:.0f} ms"]
        return lines + (self._status() if self._status is not None else [])

    def mux_packet(self, packet: av.Packet) -> None:
        """The window has no sound: packets are dropped."""

    def close(self, *, keep: bool) -> None:
        if self._opened:
            cv2.destroyWindow(self.title)
            cv2.waitKey(1)
