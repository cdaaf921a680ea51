"""Sinks: where stylised frames go.

:func:`open_sink` picks the sink from the output string, as ffmpeg does: a video file, a
still image, an image sequence (``out/%05d.png``), a network stream (``udp://``, ``tcp://``,
``srt://`` as MPEG-TS, ``rtsp://``, ``rtmp://`` as FLV; ``format`` overrides), or ``-`` for
stdout. Files are written through :func:`~streamstyle.io.output_path.output_file`: under a
temporary name, published onto the output path only when complete, so a failed run never
leaves a half-written file there (devices and FIFOs are written into directly). Streams are
encoded for low latency (no B-frames, a key frame every second).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Protocol

import av
import av.error
import numpy as np

from streamstyle.errors import EncoderError
from streamstyle.io.av_errors import NETWORK_ERRORS, output_error
from streamstyle.io.media import Frame, VideoInfo, write_image
from streamstyle.io.output_path import PartFile, output_file, writing

log = logging.getLogger(__name__)

CONTAINER_FORMATS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm"}
"""Output container (FFmpeg muxer name) by file name ending."""

VIDEO_CODECS = {"webm": ("libvpx-vp9", "libvpx")}
"""Preferred video encoders per container, best first; other containers use the H.264 list."""
H264_CODECS = ("libx264", "libopenh264", "mpeg4")

AUDIO_CODECS = {"webm": "libopus"}
"""Encoder for audio the container cannot hold as is; other containers use AAC."""

STDOUT_URL = "pipe:1"
"""stdout as FFmpeg writes it itself: a closed pipe then surfaces as EPIPE, not as a Python callback error."""

CRF_CODECS = frozenset({"libx264", "libx265", "libvpx-vp9", "libvpx", "libsvtav1"})


class Sink(Protocol):
    """What the pipeline writes to."""

    def write(self, frames: Sequence[Frame]) -> None: ...
    def mux_packet(self, packet: av.Packet) -> None: ...
    def close(self, *, keep: bool) -> None: ...


class ImageSink:
    """Writes a single stylised frame as an image file (JPEG quality 95).

    Raises:
        OutputWriteError: the image cannot be written (permission, read-only, disk full).
    """

    def __init__(self, path: Path, *, overwrite: bool = False) -> None:
        self.path = path
        self._file = output_file(path)
        self._overwrite = overwrite
        self._written = False

    def write(self, frames: Sequence[Frame]) -> None:
        if frames and not self._written:
            with writing(self.path):
                write_image(self._file.path, frames[0].rgb, suffix=self.path.suffix)
            self._written = True

    def mux_packet(self, packet: av.Packet) -> None:
        """Images have no audio: packets are dropped."""

    def close(self, *, keep: bool) -> None:
        if keep and self._written:
            self._file.publish(overwrite=self._overwrite)
        else:
            self._file.discard()


class VideoFileSink:
    """A video file, written under a temporary name and published onto ``path`` when complete.

    Frames keep their input ``pts`` and time base, so variable frame rate, duration and
    audio sync survive. Odd frame sizes are encoded as yuv444p for H.264/H.265 (their 4:2:0
    cannot represent odd sizes), so the output keeps the exact input size. A character device
    or FIFO is written into directly, as a stream (fragmented MP4).
    """

    def __init__(
        self,
        path: Path,
        info: VideoInfo,
        side_streams: Sequence[av.stream.Stream],
        *,
        format: str | None = None,
        codec: str | None,
        crf: int,
        preset: str,
        overwrite: bool = False,
    ) -> None:
        self.path = path
        muxer = format or CONTAINER_FORMATS[path.suffix.lower()]
        self._file = output_file(path)
        self._overwrite = overwrite
        options = muxer_options(muxer, seekable=isinstance(self._file, PartFile))
        try:
            self._encoder = _Encoder(str(self._file.path), path.name, muxer, options, info, side_streams)
            self._encoder.add_video(codec, crf, preset, low_latency=False)
        except BaseException:
            self._file.discard()
            raise

    def write(self, frames: Sequence[Frame]) -> None:
        """Encode frames (RGB uint8) at their pts."""
        self._encoder.write(frames)

    def mux_packet(self, packet: av.Packet) -> None:
        """Copy (or transcode) one packet of an input side stream; others are ignored."""
        self._encoder.mux_packet(packet)

    def close(self, *, keep: bool) -> None:
        """Flush the encoders, finish the file and publish it if ``keep``, else delete it."""
        try:
            self._encoder.close(keep=keep)
        except BaseException:
            keep = False
            raise
        finally:
            if keep:
                self._file.publish(overwrite=self._overwrite)
            else:
                self._file.discard()


class StreamSink:
    """A network stream or pipe, encoded for low latency: no B-frames, a key frame every second.

    Raises:
        StreamError: the destination cannot be opened or connected to, or goes away mid-stream.
    """

    def __init__(
        self,
        target: str,
        name: str,
        format: str,
        info: VideoInfo,
        side_streams: Sequence[av.stream.Stream],
        *,
        codec: str | None,
        crf: int,
        preset: str | None,
    ) -> None:
        options = {"flush_packets": "1", **muxer_options(format, seekable=False)}
        if format == "rtsp":
            options["rtsp_transport"] = "tcp"
        self._encoder = _Encoder(target, name, format, options, info, side_streams)
        self._encoder.add_video(codec, crf, preset or "veryfast", low_latency=True)

    def write(self, frames: Sequence[Frame]) -> None:
        """Encode and send frames (RGB uint8) at their pts."""
        self._encoder.write(frames)

    def mux_packet(self, packet: av.Packet) -> None:
        """Copy (or transcode) one packet of an input side stream; others are ignored."""
        self._encoder.mux_packet(packet)

    def close(self, *, keep: bool) -> None:
        """End the stream (flushing the encoder when ``keep``) and close the connection."""
        self._encoder.close(keep=keep)


class TeeSink:
    """Writes the same frames to several sinks, e.g. a file and a preview window."""

    def __init__(self, sinks: Sequence[Sink]) -> None:
        self.sinks = list(sinks)

    def write(self, frames: Sequence[Frame]) -> None:
        for sink in self.sinks:
            sink.write(frames)

    def mux_packet(self, packet: av.Packet) -> None:
        for sink in self.sinks:
            sink.mux_packet(packet)

    def close(self, *, keep: bool) -> None:
        """Close every sink, also when one fails; the first error is raised."""
        errors: list[BaseException] = []
        for sink in self.sinks:
            try:
                sink.close(keep=keep)
            except BaseException as exc:
                errors.append(exc)
        if errors:
            raise errors[0]


def muxer_options(muxer: str, *, seekable: bool) -> dict[str, str]:
    """MP4/MOV: the index in front for files; fragments for pipes and devices, which cannot seek back."""
    if muxer not in ("mp4", "mov"):
        return {}
    return {"movflags": "+faststart" if seekable else "frag_keyframe+empty_moov+default_base_moof"}


class _Encoder:
    """One output container: the video encoder and the side streams.

    Used from one thread (the pipeline's encode thread gets the side-stream packets too), so no lock.
    """

    def __init__(
        self,
        target: str,
        name: str,
        format: str,
        options: dict[str, str],
        info: VideoInfo,
        side_streams: Sequence[av.stream.Stream],
    ) -> None:
        self.name = name
        self._info = info
        self._side_streams = side_streams
        self._stdout = target == STDOUT_URL
        try:
            self._container = av.open(target, "w", format=format, options=options)
        except av.error.FFmpegError as exc:
            raise output_error(exc, name, "create", stdout=self._stdout) from None

    def add_video(self, codec: str | None, crf: int, preset: str, *, low_latency: bool) -> None:
        """Add the video stream and the side streams, and open every encoder (closing on failure)."""
        try:
            self._video = self._add_video_stream(codec, crf, preset, low_latency)
            self._side: dict[int, SideStream] = {
                s.index: SideStream(self._container, s, AUDIO_CODECS.get(self._container.format.name, "aac"))
                for s in self._side_streams
                if SideStream.can_carry(self._container, s)
            }
            self._container.start_encoding()  # open every encoder now, not racing in two threads
        except av.error.FFmpegError as exc:
            self._container.close()
            raise output_error(exc, self.name, "encode") from None
        except BaseException:
            self._container.close()
            raise

    def _add_video_stream(
        self, codec: str | None, crf: int, preset: str, low_latency: bool
    ) -> av.video.stream.VideoStream:
        info, muxer = self._info, self._container.format.name
        supported = _holds(self._container)
        candidates = (codec,) if codec else VIDEO_CODECS.get(muxer, H264_CODECS)
        usable = [name for name in candidates if supported(name) and _encoder_exists(name)]
        if not usable:
            wanted = codec or " / ".join(candidates)
            raise EncoderError(f"no usable video encoder {wanted} for a {muxer} output")
        name = usable[0]
        if not codec and name != candidates[0]:
            log.warning("%s is not available; encoding with %s", candidates[0], name)
        rate = info.frame_rate or Fraction(25)
        stream = self._container.add_stream(name, rate=rate)
        stream.width, stream.height = info.width, info.height
        odd = info.width % 2 or info.height % 2
        stream.pix_fmt = "yuv444p" if odd and name in ("libx264", "libx265") else "yuv420p"
        stream.time_base = info.time_base
        stream.codec_context.time_base = info.time_base
        if not low_latency:  # frame threads hold frames back (2 frames measured with x264)
            stream.thread_type = "AUTO"
        for key, value in info.color.items():
            setattr(stream.codec_context, key, value)
        options = {"crf": str(crf)} if name in CRF_CODECS else {}
        if name in ("libx264", "libx265"):
            options["preset"] = preset
        elif name in CRF_CODECS:
            options["b"] = "0"
        else:
            stream.bit_rate = int(info.width * info.height * float(rate) * 0.2)
        if low_latency:
            stream.codec_context.gop_size = max(1, round(rate))
            stream.codec_context.max_b_frames = 0
            if name in ("libx264", "libx265"):
                options["tune"] = "zerolatency"
        stream.options = options
        if info.rotation:
            stream.set_display_rotation(info.rotation)
        return stream

    def write(self, frames: Sequence[Frame]) -> None:
        """Encode frames (RGB uint8) at their pts."""
        for decoded in frames:
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(decoded.rgb), format="rgb24")
            frame.pts = decoded.pts
            frame.time_base = self._video.codec_context.time_base
            if decoded.duration:
                frame.duration = decoded.duration
            self._mux(self._encode(frame))

    def mux_packet(self, packet: av.Packet) -> None:
        """Copy (or transcode) one packet of an input side stream; others are ignored."""
        side = self._side.get(packet.stream.index)
        if side is not None:
            self._mux(side.convert(packet))

    def _encode(self, frame: av.VideoFrame | None) -> list[av.Packet]:
        try:
            return self._video.encode(frame)
        except av.error.FFmpegError as exc:
            raise EncoderError(f"video encoder {self._video.codec_context.name} failed: {exc}") from None

    def _mux(self, packets: Sequence[av.Packet]) -> None:
        try:
            for packet in packets:
                self._container.mux(packet)
        except av.error.FFmpegError as exc:
            raise output_error(exc, self.name, "write", stdout=self._stdout) from None

    def close(self, *, keep: bool) -> None:
        """Flush the encoders if ``keep`` and close the container."""
        try:
            if keep:
                self._mux(self._encode(None))
                for side in self._side.values():
                    self._mux(side.flush())
        finally:
            self._close_container(keep)

    def _close_container(self, keep: bool) -> None:
        """Write the trailer and close; a receiver gone already is no error, a file that cannot be finished is."""
        try:
            self._container.close()
        except NETWORK_ERRORS:
            pass
        except av.error.FFmpegError as exc:
            if keep:
                raise output_error(exc, self.name, "finish") from None


class SideStream:
    """One audio/subtitle stream of the output: packet copy, or transcode when not holdable."""

    def __init__(self, container: av.container.OutputContainer, template: av.stream.Stream, audio_codec: str) -> None:
        self._template = template
        self._transcode = not _holds(container)(template.codec_context.name)
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
        if _holds(container)(stream.codec_context.name):
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


LISTED_MUXERS = frozenset({*CONTAINER_FORMATS.values(), "flv"})
"""Muxers whose codec lists FFmpeg knows in full; others (mpegts, rtsp, ...) list only their defaults."""


def _holds(container: av.container.OutputContainer) -> Callable[[str], bool]:
    """Whether ``container`` can hold a codec: by FFmpeg's list where it is complete, else assumed."""
    if container.format.name not in LISTED_MUXERS:
        return lambda name: True  # the muxer says at start_encoding if it cannot
    supported = container.supported_codecs
    return supported.__contains__


def _encoder_exists(name: str) -> bool:
    """Whether FFmpeg has a video encoder of that name.

    Raises:
        EncoderError: ``name`` is an encoder of another kind (``aac``).
    """
    try:
        kind = av.codec.Codec(name, "w").type
    except (av.error.FFmpegError, ValueError):
        return False
    if kind != "video":
        raise EncoderError(f"{name} is an {kind} encoder; --codec takes a video encoder, such as libx264")
    return True
