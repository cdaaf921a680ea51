"""Pipeline: source -> stages -> sink, with decode, compute and encode overlapping.

A decode thread fills a bounded queue of frames, the calling thread batches them, moves
them to the compute device and runs the stages, and an encode thread writes results to the
sink. Audio and subtitle packets go from the decode thread to the encode thread in a queue of
their own, so only the encode thread touches the sink. The frame queues are bounded, so memory
stays flat for any video length.

With a live source (camera, network stream, lavfi) the decode thread never waits: it keeps
only the newest frame, so when the stages are slower than the source, older frames are
dropped (and counted) instead of piling up as latency.

Ctrl-C and SIGTERM reach the calling thread only at safe points: while it computes a batch or
waits for frames or for the encoder (waits that poll, so a signal is seen within 0.1 s), never
inside a queue operation shared with the threads, where an exception could lose a wake-up and
hang the end of the run. Once the run stops (the end, or a first Ctrl-C/SIGTERM), further
interrupts are deferred until the output is finished: a second Ctrl-C cannot discard the frames
already done.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import av
import numpy as np
import torch

from streamstyle.device import DeviceName, resolve_device, resolve_precision
from streamstyle.errors import InvalidOptionError
from streamstyle.frames import FrameBatch, to_host
from streamstyle.interrupts import deliver_interrupts, interrupts_held
from streamstyle.io.media import Frame
from streamstyle.io.sinks import Sink
from streamstyle.io.sources import Source
from streamstyle.stages import Stage
from streamstyle.stages.base import RunShape

STEPS = ("decode", "upload", "model", "download", "encode")
"""The steps a frame goes through, as timed in :attr:`RunSummary.busy`."""
_END = object()
_NOTHING = object()
POLL_SECONDS = 0.1
"""How often a wait of the calling thread looks for a held signal."""


@dataclass
class RunSummary:
    """What a run did: frames written and dropped, corrupt packets skipped, latency, interruption.

    Latency is from a frame's arrival (decoded, or captured) to its hand-over to the sink.
    ``busy`` holds the seconds each of :data:`STEPS` worked: decode (on a live source this
    includes waiting for frames), upload to the device, the stages, download to the host and
    encode. Decode and encode run in threads of their own, so the slowest step sets the pace.
    """

    frames: int = 0
    dropped: int = 0
    corrupt_packets: int = 0
    interrupted: bool = False
    seconds: float = 0.0
    latency_total: float = 0.0
    latency_max: float = 0.0
    busy: dict[str, float] = field(default_factory=dict)

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    @property
    def latency_mean(self) -> float:
        return self.latency_total / self.frames if self.frames else 0.0

    def add_latency(self, seconds: float) -> None:
        self.latency_total += seconds
        self.latency_max = max(self.latency_max, seconds)

    def add_busy(self, step: str, seconds: float) -> None:
        self.busy[step] = self.busy.get(step, 0.0) + seconds

    @property
    def bottleneck(self) -> str | None:
        """The step that was busy longest (None before any frame)."""
        return max(self.busy, key=self.busy.__getitem__) if self.busy else None


@dataclass
class _Failure:
    error: BaseException


class Pipeline:
    """Runs ``stages`` over the frames of ``source`` and writes them to ``sink``.

    Use it as a context manager; iterate it to get the processed batches (written to the
    sink as they are yielded) or call :meth:`run`. Leaving the ``with`` block normally or by
    ``KeyboardInterrupt`` finishes the output with what was processed; any other error
    discards it.

    Args:
        source: where frames come from (see :func:`~streamstyle.io.open_source`).
        stages: applied in order to every batch.
        sink: where results go (see :func:`~streamstyle.io.open_sink`); ``None`` to only iterate.
        batch_size: frames per batch through the stages; default 1 on the CPU (larger batches
            are slower per frame there: measured 0.55 s at batch 1 against 0.99 s at batch 4
            for johnson_in at 640x360 on 2 cores) and for live sources, 4 on CUDA.
        device: ``auto``, ``cpu`` or ``cuda[:N]``; channels_last is used on CUDA.
        precision: ``auto`` (see :func:`resolve_precision`), ``fp32``, ``fp16`` or ``bf16``.
        on_frames: called with the number of frames handed to the sink after each batch.
    """

    def __init__(
        self,
        source: Source,
        stages: Sequence[Stage],
        sink: Sink | None = None,
        *,
        batch_size: int | None = None,
        device: DeviceName | str = "auto",
        precision: str = "auto",
        on_frames: Callable[[int], None] | None = None,
    ) -> None:
        if batch_size is not None and batch_size < 1:
            raise InvalidOptionError(f"batch size must be at least 1, got {batch_size}")
        self.source = source
        self.sink = sink
        self.device = resolve_device(device)
        self.live = bool(getattr(source, "live", False))
        self.batch_size = batch_size or (4 if self.device.type == "cuda" and not self.live else 1)
        self.dtype = resolve_precision(precision, self.device)
        _check_masks(stages)
        self.stages = [stage.to(self.device, self.dtype) for stage in stages]
        width, height = source.info.width, source.info.height
        for stage in self.stages:
            stage.start(RunShape(width, height, self.batch_size, source.info.expected_frames, self.live))
            width, height = stage.output_size(width, height)
        self.summary = RunSummary()
        self._on_frames = on_frames
        self._stop = threading.Event()
        self._stop_requested = threading.Event()
        self._closed = False

    def request_stop(self) -> None:
        """End the run after the current batch, as if the source had ended (thread-safe)."""
        self._stop_requested.set()

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        self.close(keep=exc_type is None or issubclass(exc_type, KeyboardInterrupt))

    def run(self) -> RunSummary:
        """Process everything and finish the output; Ctrl-C stops early, keeps what was done, marks it interrupted."""
        batches = iter(self)
        try:
            for _ in batches:
                pass
        except KeyboardInterrupt:
            self.summary.interrupted = True
        with self._interrupts_deferred():
            batches.close()  # stops the threads, also when Ctrl-C came between two batches
            self.close(keep=True)
        return self.summary

    def close(self, *, keep: bool = True) -> None:
        """Close the sink (finishing the file if ``keep``, else deleting it) and the source.

        Ctrl-C/SIGTERM arriving meanwhile are deferred: they mark the run interrupted, nothing more.
        """
        if self._closed:
            return
        self._closed = True
        with self._interrupts_deferred():
            try:
                if self.sink is not None:
                    self.sink.close(keep=keep and self.summary.frames > 0)
            finally:
                self.source.close()
                for stage in self.stages:
                    stage.close()

    @contextlib.contextmanager
    def _interrupts_deferred(self) -> Iterator[None]:
        """Hold back SIGINT/SIGTERM (main thread) while the output is finished; they mark it interrupted."""
        with interrupts_held() as caught:
            yield
        if caught:
            self.summary.interrupted = True

    def __iter__(self) -> Iterator[FrameBatch]:
        started = time.perf_counter()
        frames: queue.Queue[object] = queue.Queue(maxsize=self.batch_size if self.live else 2 * self.batch_size)
        results: queue.Queue[object] = queue.Queue(maxsize=2)
        packets: queue.SimpleQueue[av.Packet] = queue.SimpleQueue()  # side streams: a few KB per frame
        encode_failure: list[BaseException] = []
        decoder = threading.Thread(target=self._decode, args=(frames, packets), name="streamstyle-decode", daemon=True)
        encoder = threading.Thread(
            target=_encode, args=(self.sink, results, packets, encode_failure, self.summary),
            name="streamstyle-encode", daemon=True,
        )  # fmt: skip
        decoder.start()
        if self.sink is not None:
            encoder.start()
        try:
            while not self._stop_requested.is_set() and (decoded := self._next_batch(frames)) is not None:
                batch = self._process(decoded)
                if encode_failure:
                    raise encode_failure[0]
                if self.sink is not None:
                    mark = time.perf_counter()
                    host = self._to_host(batch, decoded)
                    self.summary.add_busy("download", time.perf_counter() - mark)
                    _put(results, host)
                now = time.monotonic()
                for frame in decoded:
                    self.summary.add_latency(now - frame.arrived)
                self.summary.frames += len(batch)
                if self._on_frames is not None:
                    self._on_frames(len(batch))
                yield batch
        finally:
            with self._interrupts_deferred():
                self._stop.set()
                _drain(frames)
                decoder.join()
                if encoder.is_alive():
                    results.put(_END)
                    encoder.join()
            self.summary.corrupt_packets = self.source.corrupt_packets
            self.summary.seconds = time.perf_counter() - started
        if encode_failure:
            raise encode_failure[0]

    def _decode(self, frames: queue.Queue[object], packets: queue.SimpleQueue[av.Packet]) -> None:
        """Decode thread: frames into ``frames``, side-stream packets into ``packets`` (for the encode thread)."""
        busy, mark = 0.0, time.perf_counter()
        try:
            for item in self.source.read():
                busy += time.perf_counter() - mark
                if self._stop.is_set():
                    return
                if isinstance(item, Frame):
                    self._enqueue(frames, item)
                elif self.sink is not None:
                    packets.put(item)
                mark = time.perf_counter()
            frames.put(_END)
        except BaseException as exc:  # handed to the compute thread, which raises it
            frames.put(_Failure(exc))
        finally:
            self.summary.add_busy("decode", busy)

    def _enqueue(self, frames: queue.Queue[object], frame: Frame) -> None:
        """Queue a frame; a live source replaces the oldest waiting frame rather than wait."""
        if not self.live:
            frames.put(frame)
            return
        while True:
            try:
                frames.put_nowait(frame)
                return
            except queue.Full:
                try:
                    frames.get_nowait()
                    self.summary.dropped += 1
                except queue.Empty:
                    pass

    def _next_batch(self, frames: queue.Queue[object]) -> list[Frame] | None:
        batch: list[Frame] = []
        while len(batch) < self.batch_size:
            item = _get(frames)
            if isinstance(item, _Failure):
                raise item.error
            if item is _END:
                frames.put(_END)
                break
            batch.append(item)  # type: ignore[arg-type]
        return batch or None

    def _process(self, decoded: list[Frame]) -> FrameBatch:
        mark = time.perf_counter()
        host = torch.from_numpy(np.stack([frame.rgb for frame in decoded])).permute(0, 3, 1, 2)
        if self.device.type == "cuda":
            host = host.pin_memory()
        pixels = host.to(self.device, non_blocking=True)
        batch = FrameBatch(
            pixels=pixels,
            pts=torch.tensor([frame.pts for frame in decoded], dtype=torch.int64),
            time_base=self.source.info.time_base,
            source=pixels,
        )
        uploaded = time.perf_counter()
        self.summary.add_busy("upload", uploaded - mark)
        for stage in self.stages:
            batch = stage(batch)
        if self.device.type == "cuda":  # so the time lands on the model, not on the download
            torch.cuda.synchronize(self.device)
        self.summary.add_busy("model", time.perf_counter() - uploaded)
        return batch

    @staticmethod
    def _to_host(batch: FrameBatch, decoded: list[Frame]) -> list[Frame]:
        rgb = to_host(batch.pixels)
        return [
            Frame(pixels, frame.pts, frame.duration, frame.arrived) for pixels, frame in zip(rgb, decoded, strict=True)
        ]


def _check_masks(stages: Sequence[Stage]) -> None:
    """Refuse a region-aware stage that no earlier stage gives masks to."""
    masked = False
    for stage in stages:
        if stage.needs_masks and not masked:
            raise InvalidOptionError(
                f"{stage.name}: a region needs masks: put a segment (or mask) stage before it, "
                "e.g. 'segment=person,stylize=starry:region=background'"
            )
        masked = masked or stage.produces_masks


def _encode(
    sink: Sink,
    results: queue.Queue[object],
    packets: queue.SimpleQueue[av.Packet],
    failure: list[BaseException],
    summary: RunSummary,
) -> None:
    """Encode thread, the only user of the sink: side-stream packets demuxed so far, then each result.

    Runs until the end marker; keeps the first error. The packets left at the end (demuxed after
    the last frame) are muxed too.
    """
    while True:
        item = results.get()
        if not failure:
            mark = time.perf_counter()
            try:
                while not packets.empty():
                    sink.mux_packet(packets.get())
                if item is not _END:
                    sink.write(item)  # type: ignore[arg-type]
            except BaseException as exc:  # re-raised in the compute thread
                failure.append(exc)
            summary.add_busy("encode", time.perf_counter() - mark)
        if item is _END:
            return


def _get(items: queue.Queue[object]) -> object:
    """The next item; a signal during the wait is delivered within :data:`POLL_SECONDS`, outside the queue."""
    while True:
        with interrupts_held() as caught:
            try:
                item = items.get(timeout=POLL_SECONDS)
            except queue.Empty:
                item = _NOTHING
        deliver_interrupts(caught)
        if item is not _NOTHING:
            return item


def _put(items: queue.Queue[object], item: object) -> None:
    """Queue ``item``; a signal during the wait for room is delivered as in :func:`_get`."""
    while True:
        with interrupts_held() as caught:
            try:
                items.put(item, timeout=POLL_SECONDS)
                done = True
            except queue.Full:
                done = False
        deliver_interrupts(caught)
        if done:
            return


def _drain(frames: queue.Queue[object]) -> None:
    """Empty a queue so a producer blocked on ``put`` can see the stop flag and leave."""
    try:
        while True:
            frames.get_nowait()
    except queue.Empty:
        pass
