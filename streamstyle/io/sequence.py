"""Image sequences: numbered image files as a source (``frames/%05d.png`` or a glob) and a sink.

A printf pattern reads from the first number found among 0-4 (as FFmpeg's image2 does) to
the first gap; a glob reads its matches in name order. The sink numbers from 1 and writes
every image under a temporary name first, so no file at the output path is ever half-written;
it refuses a pattern that matches any file the run reads.
"""

from __future__ import annotations

import glob
from collections.abc import Iterator, Sequence
from fractions import Fraction
from pathlib import Path

import av

from streamstyle.errors import InputNotFoundError, InvalidMediaError, InvalidOptionError
from streamstyle.io.location import PRINTF_NUMBER
from streamstyle.io.media import IMAGE_SUFFIXES, Frame, VideoInfo, read_image, write_image
from streamstyle.io.output_path import (
    PartFile,
    check_sequence_output,
    sequence_matcher,
    sweep_stale_parts,
    writing,
)


def sequence_files(pattern: str) -> list[Path]:
    """The files of an image-sequence pattern, in order.

    Raises:
        InputNotFoundError: nothing matches.
    """
    if PRINTF_NUMBER.search(pattern):
        start = next((n for n in range(5) if Path(pattern % n).is_file()), None)
        files: list[Path] = []
        while start is not None and Path(pattern % (start + len(files))).is_file():
            files.append(Path(pattern % (start + len(files))))
    else:
        files = sorted(Path(name) for name in glob.glob(pattern) if Path(name).is_file())
    if not files:
        raise InputNotFoundError(f"no images match {pattern}")
    return files


class ImageSequenceSource:
    """Numbered images as a video at ``rate`` frames per second; every image must have the first one's size.

    Raises:
        InputNotFoundError: nothing matches the pattern.
        InvalidMediaError: an image cannot be read, or its size differs from the first.
    """

    def __init__(self, pattern: str, *, rate: float = 25.0) -> None:
        self.files = sequence_files(pattern)
        self.side_streams: list[av.stream.Stream] = []
        self.corrupt_packets = 0
        self.live = False
        self._first = read_image(self.files[0])
        height, width = self._first.shape[:2]
        frame_rate = Fraction(rate).limit_denominator(1001)
        self.info = VideoInfo(width, height, 1 / frame_rate, frame_rate, len(self.files), None, 0, {})

    def read(self) -> Iterator[Frame]:
        for index, path in enumerate(self.files):
            rgb = self._first if index == 0 else read_image(path)
            if rgb.shape != self._first.shape:
                raise InvalidMediaError(
                    f"{path} is {rgb.shape[1]}x{rgb.shape[0]}; the sequence is {self.info.width}x{self.info.height}"
                )
            yield Frame(rgb, index, 1)

    def close(self) -> None:
        """Nothing to release: each image is read and closed in turn."""

    def __enter__(self) -> ImageSequenceSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ImageSequenceSink:
    """Writes frame *k* (from 1) to ``pattern % k``; JPEG at quality 95.

    Each image is written under a temporary name and published when complete.

    Raises:
        InvalidOptionError: the pattern has no ``%d`` number, an unknown image ending, or no folder.
        OutputConflictError: the pattern matches a file the run reads.
        OutputExistsError: a file of the sequence exists and ``overwrite`` is false.
        OutputWriteError: an image cannot be written (permission, read-only, disk full).
    """

    def __init__(self, pattern: str, *, reads: Sequence[Path] = (), overwrite: bool = False) -> None:
        if not PRINTF_NUMBER.search(pattern):
            raise InvalidOptionError(f"an image-sequence output needs a number pattern such as %05d: {pattern}")
        suffix = Path(pattern).suffix.lower()
        if suffix not in IMAGE_SUFFIXES:
            raise InvalidOptionError(f"unknown image type {suffix or '(none)'!r} in {pattern}")
        check_sequence_output(pattern, reads=reads, overwrite=overwrite)
        sweep_stale_parts(Path(pattern % 1).parent, sequence_matcher(pattern))
        self.pattern = pattern
        self.written = 0
        self._suffix = suffix
        self._overwrite = overwrite

    def write(self, frames: Sequence[Frame]) -> None:
        for frame in frames:
            path = Path(self.pattern % (self.written + 1))
            image = PartFile(path, sweep=False)
            try:
                with writing(path):
                    write_image(image.path, frame.rgb, suffix=self._suffix)
            except BaseException:
                image.discard()
                raise
            image.publish(overwrite=self._overwrite)
            self.written += 1

    def mux_packet(self, packet: av.Packet) -> None:
        """Images have no audio: packets are dropped."""

    def close(self, *, keep: bool) -> None:
        """Every image is complete once written; nothing to finish."""
