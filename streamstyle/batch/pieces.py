"""Long videos in pieces: cut at key frames, stylised piece by piece (in parallel on a cluster), joined by remuxing.

Each piece is fed to the stages from a little before its start (the sum of its stages'
:attr:`~streamstyle.stages.Stage.memory_frames`), so that denoise, stabilize and mask smoothing
have settled by its first frame and the seams do not jump; only its own frames are encoded,
video only, into a hidden folder beside the output (``.NAME.pieces/``, with a manifest of the
input, the settings and the cuts). Finished pieces stay there until the join, so a stopped run
resumes piece by piece; a folder made for another input, other settings or other cuts is
emptied first. The join copies the pieces' packets one after the other (no second encode) and
the input's audio and subtitles once, into the output, which appears at its path only when complete.
"""

from __future__ import annotations

import contextlib
import heapq
import json
import math
import shutil
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

import av
import av.error

from streamstyle.batch.plan import BatchSettings, Job
from streamstyle.errors import DecodeError
from streamstyle.files import output_info, resolve_stages
from streamstyle.graph import build_graph, parse_graph
from streamstyle.io import Frame, Sink, open_sink
from streamstyle.io.av_errors import output_error
from streamstyle.io.media import IMAGE_SUFFIXES
from streamstyle.io.output_path import output_file
from streamstyle.io.sinks import AUDIO_CODECS, CONTAINER_FORMATS, SideStream, muxer_options
from streamstyle.io.sources import MediaSource
from streamstyle.pipeline import Pipeline
from streamstyle.stages import stage_registry

MIN_PIECE_SECONDS = 30.0
"""``--split auto`` makes no piece shorter: a worker's start and the warm-up stay a small part of it."""
SPLIT_CONTAINERS = frozenset({"mp4", "mov"})
"""Outputs that are split: pieces are written in the output's container, which must keep decode times."""
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class Piece:
    """The frames ``start <= pts < end`` of ``job.input``'s video (``None``: from its first / to its last frame).

    Attributes:
        index, count: the piece's place among its file's pieces.
        time_base, rate: the input video's time base (the unit of ``start``/``end``) and frame rate.
        frames: about how many frames it holds.
    """

    job: Job
    index: int
    count: int
    start: int | None = None
    end: int | None = None
    time_base: Fraction = Fraction(1, 90000)
    rate: Fraction = Fraction(25)
    frames: int = 0

    @property
    def path(self) -> Path:
        """Where the finished piece waits for the join."""
        return pieces_folder(self.job.output) / f"{self.index:04d}{self.job.output.suffix}"

    @property
    def label(self) -> str:
        """``piece 2 of 6 (from 30.0 s to 60.0 s)``, for messages."""
        start = float(self.start * self.time_base) if self.start is not None else 0.0
        end = f"{float(self.end * self.time_base):.1f} s" if self.end is not None else "the end"
        return f"piece {self.index + 1} of {self.count} (from {start:.1f} s to {end})"


def pieces_folder(output: Path) -> Path:
    """The hidden folder beside ``output`` that holds its finished pieces until the join."""
    return output.with_name(f".{output.name}.pieces")


def split_job(job: Job, seconds: float, graph: str = "") -> list[Piece]:
    """``job`` cut at the key frame at or before each multiple of ``seconds``.

    A single piece (the whole file) for a still image, an output container that cannot be
    joined (see :data:`SPLIT_CONTAINERS`), a ``graph`` with a stage that cannot start mid-way
    (a mask video), an input shorter than 1.5 x ``seconds``, or one that cannot be read here
    (running it then reports why).
    """
    whole = [Piece(job, 0, 1)]
    container_format = CONTAINER_FORMATS.get(job.output.suffix.lower())
    if job.input.suffix.lower() in IMAGE_SUFFIXES or container_format not in SPLIT_CONTAINERS:
        return whole
    if graph and not all(stage_registry()[spec.name].splittable for spec in parse_graph(graph)):
        return whole
    try:
        with av.open(str(job.input)) as container:
            if not container.streams.video:
                return whole
            video = container.streams.video[0]
            cuts = _key_frames(container, video, seconds)
            time_base, rate = Fraction(video.time_base), Fraction(video.average_rate or video.guessed_rate or 25)
            origin, end = video.start_time or 0, (video.start_time or 0) + _duration(container, video) / time_base
    except av.error.FFmpegError:
        return whole
    bounds = [None, *cuts, None]
    pieces = []
    for index in range(len(bounds) - 1):
        start, stop = bounds[index], bounds[index + 1]
        frames = round(
            ((stop if stop is not None else end) - (start if start is not None else origin)) * time_base * rate
        )
        pieces.append(Piece(job, index, len(bounds) - 1, start, stop, time_base, rate, max(frames, 0)))
    return pieces


def keep_matching_pieces(pieces: Sequence[Piece], settings: BatchSettings) -> None:
    """Ready the pieces' folder of a job: removed for a whole job; emptied when an earlier run left
    it for another input, other settings or other cuts, or with ``overwrite``; its manifest written."""
    folder = pieces_folder(pieces[0].job.output)
    if len(pieces) == 1:
        shutil.rmtree(folder, ignore_errors=True)
        return
    manifest = _manifest(pieces, settings)
    with contextlib.suppress(OSError, ValueError):
        if settings.sink.overwrite or json.loads((folder / MANIFEST).read_text(encoding="utf-8")) != manifest:
            shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")


def _manifest(pieces: Sequence[Piece], settings: BatchSettings) -> dict[str, object]:
    """What a finished piece depends on: the input file, the stages and encoding, the cuts."""
    source = pieces[0].job.input.stat()
    sink = settings.sink
    return {
        "input": str(pieces[0].job.input), "size": source.st_size, "mtime_ns": source.st_mtime_ns,
        "graph": settings.graph, "stability": settings.stability, "format": sink.format, "codec": sink.codec,
        "crf": sink.crf, "preset": sink.preset, "cuts": [piece.start for piece in pieces[1:]],
    }  # fmt: skip


def auto_piece_seconds(inputs: Sequence[Path], workers: int) -> float | None:
    """``--split auto``: ``None`` (whole files) for one worker; else pieces of a quarter of each
    worker's share of all the video, so that the workers end together, and at least
    :data:`MIN_PIECE_SECONDS`."""
    if workers < 2:
        return None
    total = 0.0
    for path in inputs:
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            with contextlib.suppress(av.error.FFmpegError, IndexError), av.open(str(path)) as container:
                total += _duration(container, container.streams.video[0])
    return max(MIN_PIECE_SECONDS, total / (4 * workers))


def _duration(container: av.container.InputContainer, video: av.video.stream.VideoStream) -> float:
    """Seconds of ``video`` (of the container if the stream does not say; 0 if neither does)."""
    if video.duration:
        return float(video.duration * video.time_base)
    return container.duration / av.time_base if container.duration else 0.0


def _key_frames(
    container: av.container.InputContainer, video: av.video.stream.VideoStream, seconds: float
) -> list[int]:
    """The pts of the key frame at or before each multiple of ``seconds`` that leaves half a piece after it."""
    duration = _duration(container, video)
    origin = video.start_time or 0
    cuts: list[int] = []
    for k in range(1, math.floor(duration / seconds - 0.5) + 1):
        container.seek(origin + math.floor(k * seconds / video.time_base), stream=video, backward=True)
        key = next((p.pts for p in container.demux(video) if p.is_keyframe and p.pts is not None), None)
        if key is not None and key > (cuts[-1] if cuts else origin):
            cuts.append(key)
    return cuts


def run_piece(piece: Piece, settings: BatchSettings, on_frames: Callable[[int], None] | None = None) -> int:
    """Stylise one piece into its file, video only; returns its frames (0 when it was finished before).

    Raises:
        DecodeError: the piece's first frames cannot be reached (seeking in the input is not exact).
        StreamStyleError: the input cannot be read or the piece not written.
        KeyboardInterrupt: Ctrl-C; the piece is discarded.
    """
    if piece.path.exists():
        return 0
    stages = resolve_stages(None, build_graph(settings.graph), None, settings.stability)
    memory = sum(stage.memory_frames for stage in stages)  # chained stages' memories add up
    piece.path.parent.mkdir(exist_ok=True)
    with PieceSource(piece, memory) as source:
        pipeline: Pipeline | None = None
        encoding, compute = settings.sink, settings.compute
        file = open_sink(
            str(piece.path), output_info(source.info, stages), [], format=encoding.format, reads=[piece.job.input],
            codec=encoding.codec, crf=encoding.crf, preset=encoding.preset,
        )  # fmt: skip
        sink = PieceSink(file, piece.start, lambda: pipeline is None or pipeline.summary.interrupted, on_frames)
        try:
            pipeline = Pipeline(
                source, stages, sink, batch_size=compute.batch_size, device=compute.device,
                precision=compute.precision,
            )  # fmt: skip
        except BaseException:
            sink.close(keep=False)
            raise
        with pipeline:
            summary = pipeline.run()
    if summary.interrupted:
        raise KeyboardInterrupt
    if sink.frames == 0:
        raise DecodeError(f"{piece.job.input.name}: no frame decoded in {piece.label}; use --split off")
    return sink.frames


class PieceSource:
    """The input's frames from ``memory`` frames before ``piece.start`` up to ``piece.end``; no side streams.

    Decoding starts at the key frame at or before the warm-up, so what is decoded twice is at
    most the warm-up and one group of pictures.

    Raises:
        DecodeError: (when read) the first frame decoded comes after the piece's start.
    """

    live = False

    def __init__(self, piece: Piece, memory: int) -> None:
        self.side_streams: list[av.stream.Stream] = []
        self._piece = piece
        if piece.start is None:
            self._feed_from: int | None = None
            self._media = MediaSource(str(piece.job.input))
        else:
            self._feed_from = piece.start - math.ceil(memory / piece.rate / piece.time_base)
            self._media = MediaSource(str(piece.job.input), start=float(self._feed_from * piece.time_base))
        self.info = replace(self._media.info, frame_count=piece.frames + (memory if piece.start is not None else 0))

    @property
    def corrupt_packets(self) -> int:
        return self._media.corrupt_packets

    def read(self) -> Iterator[Frame]:
        """The piece's frames, those of its warm-up first."""
        start, end, first = self._piece.start, self._piece.end, True
        for item in self._media.read():
            if not isinstance(item, Frame) or (self._feed_from is not None and item.pts < self._feed_from):
                continue
            if first and start is not None and item.pts > start:
                raise DecodeError(
                    f"{self._piece.job.input.name}: decoding cannot start at {self._piece.label} (seeking in this "
                    "file is not exact); use --split off"
                )
            first = False
            if end is not None and item.pts >= end:
                return
            yield item

    def close(self) -> None:
        self._media.close()

    def __enter__(self) -> PieceSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class PieceSink:
    """A piece's file: frames of the warm-up are not written, side streams neither (the join copies them).

    The file is kept only if the run was not interrupted: a piece at its path is complete.
    """

    def __init__(
        self,
        file: Sink,
        start: int | None,
        interrupted: Callable[[], bool],
        on_frames: Callable[[int], None] | None = None,
    ) -> None:
        self._file = file
        self._start = start
        self._interrupted = interrupted
        self._on_frames = on_frames
        self.frames = 0

    def write(self, frames: Sequence[Frame]) -> None:
        own = [frame for frame in frames if self._start is None or frame.pts >= self._start]
        if own:
            self._file.write(own)
            self.frames += len(own)
            if self._on_frames is not None:
                self._on_frames(len(own))

    def mux_packet(self, packet: av.Packet) -> None:
        """Side streams are copied once from the input by the join."""

    def close(self, *, keep: bool) -> None:
        self._file.close(keep=keep and self.frames > 0 and not self._interrupted())


def join_pieces(pieces: Sequence[Piece], *, format: str | None = None, overwrite: bool = False) -> None:
    """Remux the finished ``pieces`` of one file and its input's audio/subtitles into its output.

    The pieces' folder is deleted afterwards. A decode time that would not increase at a seam
    is moved just after the previous packet's.

    Raises:
        DecodeError: a piece is missing, or the pieces do not fit together (other sizes or codecs,
            overlapping times).
        OutputWriteError, OutputExistsError: the output cannot be written or appeared meanwhile.
    """
    job = pieces[0].job
    missing = [piece.path.name for piece in pieces if not piece.path.is_file()]
    if missing:
        raise DecodeError(f"cannot join {job.output.name}: pieces {', '.join(missing)} are missing")
    muxer = format or CONTAINER_FORMATS[job.output.suffix.lower()]
    file = output_file(job.output)
    try:
        with av.open(str(job.input)) as source, av.open(str(pieces[0].path)) as first:
            output = av.open(str(file.path), "w", format=muxer, options=muxer_options(muxer, seekable=True))
            try:
                _remux(output, first.streams.video[0], [piece.path for piece in pieces], source)
            finally:
                output.close()
        file.publish(overwrite=overwrite)
    except av.error.FFmpegError as exc:
        file.discard()
        raise output_error(exc, job.output.name, "write") from None
    except BaseException:
        file.discard()
        raise
    shutil.rmtree(pieces_folder(job.output), ignore_errors=True)


def _remux(
    output: av.container.OutputContainer,
    template: av.video.stream.VideoStream,
    pieces: Sequence[Path],
    source: av.container.InputContainer,
) -> None:
    """Write the pieces' video packets and ``source``'s side streams into ``output``, interleaved by time."""
    video = output.add_stream_from_template(template)
    video.time_base = template.time_base
    audio_codec = AUDIO_CODECS.get(output.format.name, "aac")
    kept = [stream for stream in source.streams if stream.type in ("audio", "subtitle")]
    side = {s.index: SideStream(output, s, audio_codec) for s in kept if SideStream.can_carry(output, s)}
    output.start_encoding()
    packets = heapq.merge(_video_packets(pieces, template), _side_packets(source, list(side)), key=_decode_time)
    for packet in packets:
        if packet.stream.type == "video":
            packet.stream = video
            output.mux(packet)
        else:
            for converted in side[packet.stream.index].convert(packet):
                output.mux(converted)
    for stream in side.values():
        for converted in stream.flush():
            output.mux(converted)


def _video_packets(pieces: Sequence[Path], template: av.video.stream.VideoStream) -> Iterator[av.Packet]:
    """The pieces' video packets in order, decode times made strictly increasing across the seams.

    Raises:
        DecodeError: a piece's video differs from the first's in codec or size, or starts before
            the previous piece ends.
    """
    last_dts: Fraction | None = None
    shown_until = Fraction(-(10**12))
    for path in pieces:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            ours, first = stream.codec_context, template.codec_context
            if (ours.name, ours.width, ours.height) != (first.name, first.width, first.height):
                raise DecodeError(f"cannot join {path.name}: its video is not encoded as the first piece's")
            start = shown_until
            for packet in container.demux(stream):
                if packet.dts is None:
                    continue
                if packet.pts is not None:
                    if packet.pts * packet.time_base <= start:
                        raise DecodeError(f"cannot join {path.name}: it starts before the previous piece ends")
                    shown_until = max(shown_until, packet.pts * packet.time_base)
                if last_dts is not None and packet.dts * packet.time_base <= last_dts:
                    packet.dts = math.floor(last_dts / packet.time_base) + 1
                    if packet.pts is not None and packet.pts < packet.dts:
                        packet.pts = packet.dts
                last_dts = packet.dts * packet.time_base
                yield packet


def _side_packets(source: av.container.InputContainer, indices: Sequence[int]) -> Iterator[av.Packet]:
    streams = [stream for stream in source.streams if stream.index in indices]
    if streams:
        yield from (packet for packet in source.demux(streams) if packet.dts is not None)


def _decode_time(packet: av.Packet) -> Fraction:
    return packet.dts * packet.time_base
