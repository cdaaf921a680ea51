"""What an input or output string names: the one classifier every part of streamstyle asks.

As ffmpeg reads ``-i`` and its output argument: ``-`` is stdin/stdout, ``lavfi:GRAPH`` a test
source, ``camera:N`` or ``/dev/videoN`` a camera, ``scheme://...`` a network URL, a printf
number (``%05d``) or glob characters an image sequence, an image ending a still image, and
anything else a media file. ``file:`` URLs (``file:///abs/in.mp4``, ``file:in.mp4``) name local
paths and are classified as those paths.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlparse

from streamstyle.io.media import IMAGE_SUFFIXES

Kind = Literal["file", "image", "sequence", "url", "camera", "lavfi", "stdio"]
STDIO = "-"
"""``-`` reads stdin as input and writes stdout as output."""
LAVFI_PREFIX = "lavfi:"
LIVE_SCHEMES = frozenset({"rtsp", "rtsps", "rtmp", "rtmps", "udp", "tcp", "srt", "rtp"})
"""URL schemes of live network streams: frames arrive in real time and may be dropped when behind."""
PRINTF_NUMBER = re.compile(r"%0?\d*d")
_GLOB = re.compile(r"[*?\[]")
_CAMERA = re.compile(r"^(?:camera:(?P<index>\d+)|(?P<path>/dev/video\d+))$")


@dataclass(frozen=True)
class Location:
    """A classified input or output string.

    Attributes:
        text: the string as given.
        kind: what it names.
        target: what to open: the path (``file:`` URLs resolved), the camera (an index or a
            device path), the lavfi graph, the URL, or ``-``.
        scheme: the URL scheme, lower case (``url`` only).
    """

    text: str
    kind: Kind
    target: str
    scheme: str = ""

    @property
    def path(self) -> Path | None:
        """The local path of a file, image or sequence pattern; ``None`` for the others."""
        return Path(self.target) if self.kind in ("file", "image", "sequence") else None

    @property
    def is_local_file(self) -> bool:
        """A single local file (video or image): what output-path safety checks apply to."""
        return self.kind in ("file", "image")

    @property
    def live(self) -> bool:
        """Frames arrive in real time: cameras, lavfi sources and live network streams."""
        return self.kind in ("camera", "lavfi") or self.scheme in LIVE_SCHEMES


def locate(text: str | Path) -> Location:
    """Classify ``text`` (see the module's description)."""
    given = str(text)
    if given == STDIO:
        return Location(given, "stdio", given)
    if given.startswith(LAVFI_PREFIX):
        return Location(given, "lavfi", given.removeprefix(LAVFI_PREFIX))
    camera = _CAMERA.match(given)
    if camera is not None:
        return Location(given, "camera", camera["index"] if camera["index"] is not None else camera["path"])
    target = given
    if given.lower().startswith("file:"):
        target = unquote(urlparse(given).path) or given.removeprefix("file:")
    elif "://" in given:
        return Location(given, "url", given, urlparse(given).scheme.lower())
    if is_sequence_pattern(target):
        return Location(given, "sequence", target)
    if Path(target).suffix.lower() in IMAGE_SUFFIXES:
        return Location(given, "image", target)
    return Location(given, "file", target)


def is_sequence_pattern(text: str) -> bool:
    """Whether ``text`` names an image sequence: one printf number (``%05d``) or glob characters."""
    return bool(PRINTF_NUMBER.search(text) or _GLOB.search(Path(text).name))
