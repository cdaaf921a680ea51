"""Opening inputs and outputs from strings, as ffmpeg does: :func:`open_source` and :func:`open_sink`.

Which kind of source or sink a string gets is decided by :func:`~streamstyle.io.location.locate`.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

import av

from streamstyle.errors import InputNotFoundError, InvalidMediaError, InvalidOptionError
from streamstyle.io.camera import open_camera
from streamstyle.io.location import locate
from streamstyle.io.media import IMAGE_SUFFIXES, VideoInfo
from streamstyle.io.output_path import check_output_path
from streamstyle.io.sequence import ImageSequenceSink, ImageSequenceSource, sequence_files
from streamstyle.io.sinks import CONTAINER_FORMATS, STDOUT_URL, ImageSink, Sink, StreamSink, VideoFileSink
from streamstyle.io.sources import LIVE_INPUT_OPTIONS, ImageSource, MediaSource, Source

STREAM_FORMATS = {
    "udp": "mpegts", "tcp": "mpegts", "srt": "mpegts", "rtp": "rtp_mpegts",
    "rtsp": "rtsp", "rtsps": "rtsp", "rtmp": "flv", "rtmps": "flv",
}  # fmt: skip
"""Default container (FFmpeg muxer) of a network output by URL scheme."""


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
    location = locate(url)
    options = dict(options or {})
    if format is not None:
        check_format(format, "input")
    if location.kind == "stdio":
        return MediaSource(sys.stdin.buffer, name="stdin", format=format, options=options, live=bool(live))
    if location.kind == "lavfi":
        return MediaSource(location.target, format="lavfi", options=options, realtime=True, live=live is not False)
    if location.kind == "camera":
        return open_camera(location.target, size=size, rate=rate, timeout=timeout)
    if location.kind == "url":
        if location.scheme in ("rtsp", "rtsps") and options.get("rtsp_flags") == "listen":
            options.setdefault("listen_timeout", str(round(timeout)))  # FFmpeg's default fails to listen
        is_live = location.live if live is None else live
        if is_live:  # start after a short probe instead of buffering seconds of stream
            options = LIVE_INPUT_OPTIONS | options
        text = location.target
        return MediaSource(text, format=format, options=options, timeout=timeout, realtime=realtime, live=is_live)
    if location.kind == "sequence":
        return ImageSequenceSource(location.target, rate=rate or 25.0)
    path = Path(location.target)
    if not path.exists():
        raise InputNotFoundError(f"input not found: {location.text}")
    if path.is_dir():
        raise InvalidMediaError(f"input is a folder, not a media file: {location.text}")
    if location.kind == "image" and format is None:
        return ImageSource(path)
    return MediaSource(str(path), format=format, options=options, realtime=realtime, live=bool(live))


def open_sink(
    output: str | Path,
    info: VideoInfo,
    side_streams: Sequence[av.stream.Stream] = (),
    *,
    format: str | None = None,
    reads: Sequence[Path] = (),
    overwrite: bool = False,
    codec: str | None = None,
    crf: int = 18,
    preset: str | None = None,
) -> Sink:
    """Open the sink for ``output``: a file, image sequence, network URL or ``-`` (stdout).

    Args:
        output: file path (``.mp4 .m4v .mov .mkv .webm`` write video, image endings a still),
            ``%05d`` image pattern, network URL, or ``-``.
        info: size and timing of the frames that will be written.
        side_streams: input audio/subtitle streams whose packets will be passed to
            :meth:`Sink.mux_packet` (copied when the container holds their codec).
        format: FFmpeg muxer (``-f``), e.g. ``mpegts``; default from the file ending or URL
            scheme (``mpegts`` for stdout).
        reads: the local files the run reads (see :func:`files_read`), never written over.
        overwrite: replace an existing output file (a device or FIFO is written into without it).
        codec: video encoder name; default H.264 (VP9 for webm) with fallbacks.
        crf: constant rate factor for encoders that take one (lower is better quality).
        preset: encoder speed preset where the encoder has presets (x264/x265); default
            ``medium`` for files and ``veryfast`` for streams.

    Raises:
        OutputConflictError, OutputExistsError, InvalidOptionError, EncoderError, StreamError.
    """
    location = locate(output)
    encoding = {"codec": codec, "crf": crf}
    if format is not None:
        check_format(format, "output")
    if location.kind == "stdio":
        fmt = format or "mpegts"
        return StreamSink(STDOUT_URL, "stdout", fmt, info, side_streams, preset=preset, **encoding)
    if location.kind == "url":
        fmt = format or STREAM_FORMATS.get(location.scheme)
        if fmt is None:
            raise InvalidOptionError(
                f"no default container for {location.scheme}:// outputs; give one with -f (e.g. mpegts)"
            )
        return StreamSink(location.target, location.text, fmt, info, side_streams, preset=preset, **encoding)
    if location.kind == "sequence":
        return ImageSequenceSink(location.target, reads=reads, overwrite=overwrite)
    if location.kind in ("camera", "lavfi"):
        raise InvalidOptionError(f"{location.text} is an input, not an output")
    path = Path(location.target)
    check_output_path(path, reads=reads, overwrite=overwrite)
    if location.kind == "image":
        if info.frame_count > 1:
            raise InvalidOptionError(f"{path.name}: an image output needs a still-image input (or use out/%05d.png)")
        return ImageSink(path, overwrite=overwrite)
    suffix = path.suffix.lower()
    if format is None and suffix not in CONTAINER_FORMATS:
        known = " ".join(sorted(CONTAINER_FORMATS) + sorted(IMAGE_SUFFIXES))
        raise InvalidOptionError(f"unsupported output type {suffix or '(none)'!r}; use one of: {known} (or -f)")
    return VideoFileSink(
        path, info, side_streams, format=format, preset=preset or "medium", overwrite=overwrite, **encoding
    )


def files_read(input: str | Path) -> list[Path]:
    """The local files reading ``input`` opens: the file, or every image of a sequence; none for the others."""
    location = locate(input)
    if location.kind == "sequence":
        return sequence_files(location.target)
    return [Path(location.target)] if location.is_local_file else []


def check_format(name: str, direction: Literal["input", "output"]) -> None:
    """Refuse a container format FFmpeg does not have for ``direction``.

    Raises:
        InvalidOptionError: no such format (``-f nosuchformat``), or one of the other direction.
    """
    try:
        known = av.format.ContainerFormat(name)
    except ValueError:
        known = None
    if known is None or not (known.is_input if direction == "input" else known.is_output):
        kind = "demuxer" if direction == "input" else "muxer"
        raise InvalidOptionError(f"FFmpeg has no {direction} format {name!r} (see `ffmpeg -{kind}s`)")
