"""streamstyle: stylise video with neural style transfer, fast.

The public API; see ``streamstyle --help`` for the command line. Names are imported on first
use (PEP 562), so ``import streamstyle`` and ``streamstyle --help`` start without PyTorch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    "LiveControls": "streamstyle.controls",
    "StyleSwitch": "streamstyle.controls",
    "BackendUnavailableError": "streamstyle.errors",
    "DecodeError": "streamstyle.errors",
    "DeviceError": "streamstyle.errors",
    "EncoderError": "streamstyle.errors",
    "FilterError": "streamstyle.errors",
    "GraphSyntaxError": "streamstyle.errors",
    "InputNotFoundError": "streamstyle.errors",
    "InvalidMediaError": "streamstyle.errors",
    "InvalidOptionError": "streamstyle.errors",
    "NoVideoStreamError": "streamstyle.errors",
    "OutOfMemoryError": "streamstyle.errors",
    "OutputConflictError": "streamstyle.errors",
    "OutputExistsError": "streamstyle.errors",
    "OutputWriteError": "streamstyle.errors",
    "PipeClosedError": "streamstyle.errors",
    "StreamError": "streamstyle.errors",
    "StreamStyleError": "streamstyle.errors",
    "UnknownStyleError": "streamstyle.errors",
    "WeightsUnavailableError": "streamstyle.errors",
    "default_output_path": "streamstyle.files",
    "stylize_file": "streamstyle.files",
    "Filter": "streamstyle.filters",
    "find_filter": "streamstyle.filters",
    "list_filters": "streamstyle.filters",
    "FrameBatch": "streamstyle.frames",
    "StageSpec": "streamstyle.graph",
    "build_graph": "streamstyle.graph",
    "format_graph": "streamstyle.graph",
    "parse_graph": "streamstyle.graph",
    "VideoInfo": "streamstyle.io.media",
    "open_sink": "streamstyle.io.opening",
    "open_source": "streamstyle.io.opening",
    "build_model": "streamstyle.models",
    "Pipeline": "streamstyle.pipeline",
    "RunSummary": "streamstyle.pipeline",
    "Denoise": "streamstyle.stages",
    "MaskFile": "streamstyle.stages",
    "Scale": "streamstyle.stages",
    "Segment": "streamstyle.stages",
    "Stabilize": "streamstyle.stages",
    "Stage": "streamstyle.stages",
    "Stylize": "streamstyle.stages",
    "WarpingError": "streamstyle.temporal.metrics",
    "warping_error": "streamstyle.temporal.metrics",
}
"""Public name -> the module that defines it."""

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
    "OutputWriteError",
    "PipeClosedError",
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


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'streamstyle' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:
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
        OutputWriteError,
        PipeClosedError,
        StreamError,
        StreamStyleError,
        UnknownStyleError,
        WeightsUnavailableError,
    )
    from streamstyle.files import default_output_path, stylize_file
    from streamstyle.filters import Filter, find_filter, list_filters
    from streamstyle.frames import FrameBatch
    from streamstyle.graph import StageSpec, build_graph, format_graph, parse_graph
    from streamstyle.io.media import VideoInfo
    from streamstyle.io.opening import open_sink, open_source
    from streamstyle.models import build_model
    from streamstyle.pipeline import Pipeline, RunSummary
    from streamstyle.stages import Denoise, MaskFile, Scale, Segment, Stabilize, Stage, Stylize
    from streamstyle.temporal.metrics import WarpingError, warping_error
