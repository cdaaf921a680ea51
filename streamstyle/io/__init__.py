"""Inputs and outputs: media files, URLs, cameras, image sequences, pipes, windows, virtual cameras.

:func:`open_source` and :func:`open_sink` take strings as ffmpeg does (see
:mod:`streamstyle.io.location`). This package imports nothing of streamstyle above it.
"""

from streamstyle.io.media import Frame, VideoInfo
from streamstyle.io.opening import open_sink, open_source
from streamstyle.io.sinks import Sink
from streamstyle.io.sources import Source

__all__ = ["Frame", "Sink", "Source", "VideoInfo", "open_sink", "open_source"]
