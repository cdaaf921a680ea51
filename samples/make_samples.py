"""Generate the sample media in ``samples/``: ``sample.jpg`` and ``sample.mp4``.

Image source: the ``astronaut`` photo bundled in the scikit-image wheel
(``skimage.data.astronaut()``), a NASA portrait of astronaut Eileen Collins
from the NASA Great Images database; public domain (no known copyright
restrictions).

* ``sample.jpg``: the photo cropped to 3:2 and resized to 640x426, JPEG q=90.
* ``sample.mp4``: 3.0 s, 640x360, 25 fps H.264 (yuv420p) with a slow,
  sub-pixel Ken Burns pan/zoom over the photo, plus a 48 kHz stereo AAC track
  holding a synthesised C-major chord with a gentle fade in/out (no recorded
  audio is used).

The output is deterministic. scikit-image is a dev-time dependency of this
script only (``pip install scikit-image``); streamstyle does not need it.

Run from the repository root::

    python samples/make_samples.py
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.audio.stream import AudioStream
from av.container import OutputContainer
from av.video.stream import VideoStream
from PIL import Image

OUT_DIR = Path(__file__).resolve().parent

JPEG_SIZE = (640, 426)
JPEG_QUALITY = 90

VIDEO_SIZE = (640, 360)
FPS = 25
DURATION_S = 3
N_FRAMES = FPS * DURATION_S
CRF = 23

SAMPLE_RATE = 48_000
AUDIO_CHUNK = 1024  # AAC frame size
CHORD_HZ = (261.63, 329.63, 392.00)  # C4, E4, G4
CHORD_PAN = (0.35, 0.5, 0.65)  # 0 = left, 1 = right
FADE_S = 0.5
PEAK = 0.5

# Ken Burns windows (left, top, width) in source pixels; height follows 16:9.
START_WINDOW = (0.0, 40.0, 512.0)
END_WINDOW = (70.0, 10.0, 320.0)

Window = tuple[float, float, float]


def load_photo() -> Image.Image:
    """Return the public-domain astronaut photo (512x512 RGB)."""
    from skimage.data import astronaut  # dev-time only dependency

    return Image.fromarray(astronaut())


def write_still(photo: Image.Image, path: Path) -> None:
    """Crop the top of ``photo`` to 3:2 and save it as a JPEG."""
    width, height = JPEG_SIZE
    box = (0.0, 0.0, float(photo.width), photo.width * height / width)
    still = photo.resize(JPEG_SIZE, Image.Resampling.LANCZOS, box=box)
    still.save(path, quality=JPEG_QUALITY, optimize=True)


def ease(t: float) -> float:
    """Smoothstep easing on [0, 1]."""
    return t * t * (3.0 - 2.0 * t)


def window_at(t: float) -> Window:
    """Interpolate the Ken Burns window for normalised time ``t``."""
    e = ease(t)
    left, top, width = (a + (b - a) * e for a, b in zip(START_WINDOW, END_WINDOW, strict=True))
    return left, top, width


def render_frame(photo: Image.Image, window: Window) -> np.ndarray:
    """Resample ``window`` of ``photo`` to VIDEO_SIZE (sub-pixel, bicubic)."""
    left, top, width = window
    scale = width / VIDEO_SIZE[0]
    coeffs = (scale, 0.0, left, 0.0, scale, top)
    frame = photo.transform(VIDEO_SIZE, Image.Transform.AFFINE, coeffs, Image.Resampling.BICUBIC)
    return np.asarray(frame)


def synth_chord() -> np.ndarray:
    """Return a (2, n) float32 stereo C-major chord with raised-cosine fades."""
    n = SAMPLE_RATE * DURATION_S
    t = np.arange(n) / SAMPLE_RATE
    stereo = np.zeros((2, n))
    for freq, pan in zip(CHORD_HZ, CHORD_PAN, strict=True):
        tone = np.sin(2.0 * np.pi * freq * t)
        stereo += np.outer([np.cos(pan * np.pi / 2), np.sin(pan * np.pi / 2)], tone)
    fade_n = int(FADE_S * SAMPLE_RATE)
    ramp = 0.5 - 0.5 * np.cos(np.linspace(0.0, np.pi, fade_n))
    envelope = np.ones(n)
    envelope[:fade_n] = ramp
    envelope[-fade_n:] = ramp[::-1]
    stereo *= envelope * PEAK / np.abs(stereo).max()
    return stereo.astype(np.float32)


def add_video_stream(container: OutputContainer) -> VideoStream:
    """Add the H.264 stream; a single thread keeps x264 output deterministic."""
    stream = container.add_stream("libx264", rate=FPS, options={"crf": str(CRF), "threads": "1"})
    stream.width, stream.height = VIDEO_SIZE
    stream.pix_fmt = "yuv420p"
    return stream


def encode_video(container: OutputContainer, stream: VideoStream, photo: Image.Image) -> None:
    """Encode the Ken Burns clip into ``stream``."""
    for i in range(N_FRAMES):
        pixels = render_frame(photo, window_at(i / (N_FRAMES - 1)))
        frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
        frame.pts = i
        frame.time_base = Fraction(1, FPS)
        container.mux(stream.encode(frame))
    container.mux(stream.encode(None))


def encode_audio(container: OutputContainer, stream: AudioStream, samples: np.ndarray) -> None:
    """Encode ``samples`` (2, n), in AAC-frame-sized chunks, into ``stream``."""
    for start in range(0, samples.shape[1], AUDIO_CHUNK):
        chunk = np.ascontiguousarray(samples[:, start : start + AUDIO_CHUNK])
        frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
        frame.sample_rate = SAMPLE_RATE
        frame.pts = start
        frame.time_base = Fraction(1, SAMPLE_RATE)
        container.mux(stream.encode(frame))
    container.mux(stream.encode(None))


def write_clip(photo: Image.Image, path: Path) -> None:
    """Write the H.264 + AAC sample clip to ``path``."""
    with av.open(str(path), "w", options={"movflags": "+faststart"}) as container:
        video = add_video_stream(container)
        audio = container.add_stream("aac", rate=SAMPLE_RATE, layout="stereo")
        encode_video(container, video, photo)
        encode_audio(container, audio, synth_chord())


def main() -> None:
    photo = load_photo()
    write_still(photo, OUT_DIR / "sample.jpg")
    write_clip(photo, OUT_DIR / "sample.mp4")


if __name__ == "__main__":
    main()
