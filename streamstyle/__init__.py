"""streamstyle: stylise video with neural style transfer, fast.

The public API; see ``streamstyle --help`` for the command line.
"""

__version__ = "0.1.0"

from streamstyle.controls import LiveControls, StyleSwitch
from streamstyle.errors import (
    BackendUnavailableError,
    DecodeError,
    DeviceError,
    EncoderError,
    FilterError,
    GraphSyntaxError,
    InputNotFoundError,
    InvalidMediaError,
    InvalidOptionError,
    NoVideoStreamError,
    OutOfMemoryError,
    OutputConflictError,
    OutputExistsError,
    StreamError,
    StreamStyleError,
    UnknownStyleError,
    WeightsUnavailableError,
)
from streamstyle.files import default_output_path, stylize_file
from streamstyle.filters import Filter, find_filter, list_filters
from streamstyle.frames import FrameBatch
from streamstyle.graph import StageSpec, build_graph, format_graph, parse_graph
from streamstyle.models import build_model
from streamstyle.pipeline import Pipeline, RunSummary
from streamstyle.sinks import open_sink
from streamstyle.sources import VideoInfo, open_source
from streamstyle.stages import Denoise, MaskFile, Scale, Segment, Stabilize, Stage, Stylize
from streamstyle.temporal import WarpingError, warping_error

__all__ = [
    "BackendUnavailableError",
    "DecodeError",
    "Denoise",
    "DeviceError",
    "EncoderError",
    "Filter",
    "FilterError",
    "FrameBatch",
    "GraphSyntaxError",
    "InputNotFoundError",
    "InvalidMediaError",
    "InvalidOptionError",
    "LiveControls",
    "MaskFile",
    "NoVideoStreamError",
    "OutOfMemoryError",
    "OutputConflictError",
    "OutputExistsError",
    "Pipeline",
    "RunSummary",
    "Scale",
    "Segment",
    "Stabilize",
    "Stage",
    "StageSpec",
    "StreamError",
    "StreamStyleError",
    "StyleSwitch",
    "Stylize",
    "UnknownStyleError",
    "VideoInfo",
    "WarpingError",
    "WeightsUnavailableError",
    "__version__",
    "build_graph",
    "build_model",
    "default_output_path",
    "find_filter",
    "format_graph",
    "list_filters",
    "open_sink",
    "open_source",
    "parse_graph",
    "stylize_file",
    "warping_error",
]
