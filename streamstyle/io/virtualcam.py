"""The virtual camera sink: stylised frames as a webcam other programs can open (pyvirtualcam).

pyvirtualcam is an optional extra (``pip install 'streamstyle[virtualcam]'``); it drives
v4l2loopback on Linux and OBS's virtual camera on macOS and Windows.
"""

from __future__ import annotations

from collections.abc import Sequence

import av

from streamstyle.errors import BackendUnavailableError
from streamstyle.io.media import Frame

INSTALL_HINT = "pip install 'streamstyle[virtualcam]'"
BACKEND_HINT = "Linux: sudo modprobe v4l2loopback; macOS/Windows: install OBS Studio and start its virtual camera once"


class VirtualCamera:
    """Sends frames to a virtual camera of ``width`` x ``height`` at ``fps``.

    Args:
        device: the backend's device, e.g. ``/dev/video10`` (default: the first free one).

    Raises:
        BackendUnavailableError: pyvirtualcam is not installed, or no virtual camera backend exists.
    """

    def __init__(self, width: int, height: int, fps: float, *, device: str | None = None) -> None:
        try:
            import pyvirtualcam
        except ImportError:
            raise BackendUnavailableError(f"--virtual-camera needs pyvirtualcam: {INSTALL_HINT}") from None
        try:
            self._camera = pyvirtualcam.Camera(width, height, fps, fmt=pyvirtualcam.PixelFormat.RGB, device=device)
        except RuntimeError as exc:
            reason = str(exc).split(". ")[0]
            raise BackendUnavailableError(f"no virtual camera backend: {reason} ({BACKEND_HINT})") from None
        self.device = self._camera.device

    def write(self, frames: Sequence[Frame]) -> None:
        for frame in frames:
            self._camera.send(frame.rgb)

    def mux_packet(self, packet: av.Packet) -> None:
        """A camera has no sound: packets are dropped."""

    def close(self, *, keep: bool) -> None:
        self._camera.close()
