"""Sinks: where stylised frames go.

:func:`open_sink` picks the sink from the output path. Files are written under a temporary
name in the destination folder and renamed into place only when complete, so a failed run
never leaves a half-written file at the output path.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import Protocol

import av
import av.error
import numpy as np
from PIL import Image

from streamstyle.errors import EncoderError, InvalidOptionError, OutputConflictError, OutputExistsError
from streamstyle.sources import IMAGE_SUFFIXES, DecodedFrame, VideoInfo

log = logging.getLogger(__name__)

CONTAINER_FORMATS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm"}
"""Output container (FFmpeg muxer name) by file name ending."""

VIDEO_CODECS = {"webm": ("libvpx-vp9", "libvpx")}
"""Preferred video encoders per container, best first; other containers use the H.264 list."""
H264_CODECS = ("libx264", "libopenh264", "mpeg4")

AUDIO_CODECS = {"webm": "libopus"}
"""Encoder for audio the container cannot hold as is; other containers use AAC."""

CRF_CODECS = frozenset({"libx264", "libx265", "libvpx-vp9", "libvpx", "libsvtav1"})


class Sink(Protocol):
    """What the pipeline writes to."""

    def write(self, frames: Sequence[DecodedFrame]) -> None: ...
    def mux_packet(self, packet: av.Packet) -> None: ...
    def close(self, *, keep: bool) -> None: ...


def check_output_path(output: Path, *, input: str | Path | None = None, overwrite: bool = False) -> None:
    """Refuse an output that is the input, or that exists when ``overwrite`` is false.

    Raises:
        OutputConflictError: ``output`` is the same file as ``input``.
        OutputExistsError: ``output`` exists and ``overwrite`` is false.
    """
    if input is not None and (
        output.resolve() == Path(input).resolve() or (output.exists() and output.samefile(input))
    ):
        raise OutputConflictError(f"output is the input file: {output}; choose another -o")
    if output.exists() and not overwrite:
        raise OutputExistsError(f"output exists: {output} (use -y/--overwrite to replace it)")
    if not output.parent.is_dir():
        raise InvalidOptionError(f"output folder does not exist: {output.parent}")


def open_sink(
    output: str | Path,
    info: VideoInfo,
    side_streams: Sequence[av.stream.Stream] = (),
    *,
    input: str | Path | None = None,
    overwrite: bool = False,
    codec: str | None = None,
    crf: int = 18,
    preset: str = "medium",
) -> Sink:
    """Open the sink for ``output``, chosen by its file name ending.

    Args:
        output: file path; ``.mp4 .m4v .mov .mkv .webm`` write video, image endings a still.
        info: size and timing of the frames that will be written.
        side_streams: input audio/subtitle streams whose packets will be passed to
            :meth:`Sink.mux_packet` (copied when the container holds their codec).
        input: the input path, to refuse writing over it.
        overwrite: replace an existing output.
        codec: video encoder name; default H.264 (VP9 for webm) with fallbacks.
        crf: constant rate factor for encoders that take one (lower is better quality).
        preset: encoder speed preset where the encoder has presets (libx264/libx265).

    Raises:
        OutputConflictError, OutputExistsError, InvalidOptionError, EncoderError.
    """
    path = Path(output)
    check_output_path(path, input=input, overwrite=overwrite)
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        if info.frame_count > 1:
            raise InvalidOptionError(f"{path.name}: an image output needs a still-image input")
        return ImageSink(path)
    if suffix not in CONTAINER_FORMATS:
        known = " ".join(sorted(CONTAINER_FORMATS) + sorted(IMAGE_SUFFIXES))
        raise InvalidOptionError(f"unsupported output type {suffix or '(none)'!r}; use one of: {known}")
    return VideoFileSink(path, info, side_streams, codec=codec, crf=crf, preset=preset)


def temporary_path(final: Path) -> Path:
    """A fresh file next to ``final`` that is renamed onto it when the write completes."""
    fd, name = tempfile.mkstemp(dir=final.parent, prefix=f".{final.name}.", suffix=".part")
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(name, 0o666 & ~umask)
    return Path(name)


class ImageSink:
    """Writes a single stylised frame as an image file (JPEG quality 95)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._temporary = temporary_path(path)
        self._written = False

    def write(self, frames: Sequence[DecodedFrame]) -> None:
        if frames and not self._written:
            image = Image.fromarray(frames[0].rgb)
            image.save(self._temporary, format=Image.registered_extensions()[self.path.suffix.lower()], quality=95)
            self._written = True

    def mux_packet(self, packet: av.Packet) -> None:
        """Images have no audio: packets are dropped."""

    def close(self, *, keep: bool) -> None:
        if keep and self._written:
            os.replace(self._temporary, self.path)
        else:
            self._temporary.unlink(missing_ok=True)


class VideoFileSink:
    """Encodes frames with PyAV and remuxes (or transcodes) the input's audio and subtitles.

    Frames keep their input ``pts`` and time base, so variable frame rate, duration and
    audio sync survive. Odd frame sizes are encoded as yuv444p for H.264/H.265 (their 4:2:0
    cannot represent odd sizes), so the output keeps the exact input size.
    """

    def __init__(
        self,
        path: Path,
        info: VideoInfo,
        side_streams: Sequence[av.stream.Stream],
        *,
        codec: str | None,
        crf: int,
        preset: str,
    ) -> None:
        self.path = path
        self._format = CONTAINER_FORMATS[path.suffix.lower()]
        self._lock = threading.Lock()
        self._temporary = temporary_path(path)
        options = {"movflags": "+faststart"} if self._format in ("mp4", "mov") else {}
        try:
            self._container = av.open(str(self._temporary), "w", format=self._format, options=options)
        except av.error.FFmpegError as exc:
            self._temporary.unlink(missing_ok=True)
            raise EncoderError(f"cannot create {path}: {exc}") from None
        try:
            self._video = self._add_video_stream(info, codec, crf, preset)
            self._side: dict[int, _SideStream] = {
                s.index: _SideStream(self._container, s, AUDIO_CODECS.get(self._format, "aac"))
                for s in side_streams
                if _SideStream.can_carry(self._container, s)
            }
            self._container.start_encoding()  # open every encoder now, not racing in two threads
        except av.error.FFmpegError as exc:
            self._container.close()
            self._temporary.unlink(missing_ok=True)
            raise EncoderError(f"cannot encode {path.name}: {exc}") from None
        except BaseException:
            self._container.close()
            self._temporary.unlink(missing_ok=True)
            raise

    def _add_video_stream(
        self, info: VideoInfo, codec: str | None, crf: int, preset: str
    ) -> av.video.stream.VideoStream:
        supported = self._container.supported_codecs
        candidates = (codec,) if codec else VIDEO_CODECS.get(self._format, H264_CODECS)
        usable = [name for name in candidates if name in supported and _encoder_exists(name)]
        if not usable:
            wanted = codec or " / ".join(candidates)
            raise EncoderError(f"no usable video encoder {wanted} for a {self._format} file")
        name = usable[0]
        if not codec and name != candidates[0]:
            log.warning("%s is not available; encoding with %s", candidates[0], name)
        stream = self._container.add_stream(name, rate=info.frame_rate or Fraction(25))
        stream.width, stream.height = info.width, info.height
        odd = info.width % 2 or info.height % 2
        stream.pix_fmt = "yuv444p" if odd and name in ("libx264", "libx265") else "yuv420p"
        stream.time_base = info.time_base
        stream.codec_context.time_base = info.time_base
        stream.thread_type = "AUTO"
        for key, value in info.color.items():
            setattr(stream.codec_context, key, value)
        if name in CRF_CODECS:
            stream.options = {"crf": str(crf)} | ({"preset": preset} if name in ("libx264", "libx265") else {"b": "0"})
        else:
            stream.bit_rate = int(info.width * info.height * float(info.frame_rate or 25) * 0.2)
        if info.rotation:
            stream.set_display_rotation(info.rotation)
        return stream

    def write(self, frames: Sequence[DecodedFrame]) -> None:
        """Encode frames (RGB uint8) at their pts."""
        for decoded in frames:
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(decoded.rgb), format="rgb24")
            frame.pts = decoded.pts
            frame.time_base = self._video.codec_context.time_base
            if decoded.duration:
                frame.duration = decoded.duration
            with self._lock:  # PyAV objects of one container are not safe to use from two threads at once
                self._mux_unlocked(self._encode(frame))

    def mux_packet(self, packet: av.Packet) -> None:
        """Copy (or transcode) one packet of an input side stream; others are ignored."""
        side = self._side.get(packet.stream.index)
        if side is not None:
            with self._lock:
                self._mux_unlocked(side.convert(packet))

    def _encode(self, frame: av.VideoFrame | None) -> list[av.Packet]:
        try:
            return self._video.encode(frame)
        except av.error.FFmpegError as exc:
            raise EncoderError(f"video encoder {self._video.codec_context.name} failed: {exc}") from None

    def _mux(self, packets: Sequence[av.Packet]) -> None:
        with self._lock:
            self._mux_unlocked(packets)

    def _mux_unlocked(self, packets: Sequence[av.Packet]) -> None:
        for packet in packets:
            self._container.mux(packet)

    def close(self, *, keep: bool) -> None:
        """Flush the encoders, finish the file and move it into place if ``keep``, else delete it."""
        try:
            if keep:
                self._mux(self._encode(None))
                for side in self._side.values():
                    self._mux(side.flush())
        except BaseException:
            keep = False
            raise
        finally:
            self._container.close()
            if keep:
                os.replace(self._temporary, self.path)
            else:
                self._temporary.unlink(missing_ok=True)


class _SideStream:
    """One audio/subtitle stream of the output: packet copy, or transcode when not holdable."""

    def __init__(self, container: av.container.OutputContainer, template: av.stream.Stream, audio_codec: str) -> None:
        self._template = template
        self._transcode = template.codec_context.name not in container.supported_codecs
        if not self._transcode:
            self._stream = container.add_stream_from_template(template)
            return
        rate = template.codec_context.sample_rate
        if audio_codec == "libopus":
            rate = 48000
        self._stream = container.add_stream(audio_codec, rate=rate)
        self._stream.layout = template.codec_context.layout
        self._resampler = av.AudioResampler(
            format=self._stream.codec_context.codec.audio_formats[0].name, layout=self._stream.layout, rate=rate
        )
        log.info("transcoding %s audio to %s", template.codec_context.name, audio_codec)

    @staticmethod
    def can_carry(container: av.container.OutputContainer, stream: av.stream.Stream) -> bool:
        """Audio always (copied or transcoded); subtitles only when the container holds their codec."""
        if stream.type == "audio":
            return True
        if stream.codec_context.name in container.supported_codecs:
            return True
        log.warning("dropping %s subtitles: the output container cannot hold them", stream.codec_context.name)
        return False

    def convert(self, packet: av.Packet) -> list[av.Packet]:
        if not self._transcode:
            packet.stream = self._stream
            return [packet]
        packets = []
        for frame in self._template.decode(packet):
            frame.pts = None
            for resampled in self._resampler.resample(frame):
                packets.extend(self._stream.encode(resampled))
        return packets

    def flush(self) -> list[av.Packet]:
        if not self._transcode:
            return []
        packets = []
        for resampled in self._resampler.resample(None):
            packets.extend(self._stream.encode(resampled))
        return packets + self._stream.encode(None)


def _encoder_exists(name: str) -> bool:
    try:
        av.codec.Codec(name, "w")
    except (av.error.FFmpegError, ValueError):
        return False
    return True
