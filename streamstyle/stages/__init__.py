"""Processing stages and their registry by graph name (built-in, then entry-point plugins)."""

import functools
from collections.abc import Mapping
from types import MappingProxyType

from streamstyle.plugins import STAGES_GROUP, loaded_entry_points, skip_plugin
from streamstyle.stages.base import Param, Stage
from streamstyle.stages.denoise import Denoise
from streamstyle.stages.scale import Scale
from streamstyle.stages.segment import MaskFile, Segment
from streamstyle.stages.stabilize import Stabilize
from streamstyle.stages.stylize import Stylize

STAGES: dict[str, type[Stage]] = {
    stage.name: stage for stage in (Stylize, Scale, Segment, MaskFile, Denoise, Stabilize)
}
"""The built-in stage classes by the name the graph string uses."""


@functools.cache
def stage_registry() -> Mapping[str, type[Stage]]:
    """Stage classes by graph name: the built-in ones, then the ``streamstyle.stages`` plugins."""
    registry = dict(STAGES)
    for point, value in loaded_entry_points(STAGES_GROUP):
        if not (isinstance(value, type) and issubclass(value, Stage)):
            skip_plugin(point, f"{value!r} is not a streamstyle.stages.Stage subclass")
        elif getattr(value, "name", None) != point.name:
            skip_plugin(point, f"its class's name is {getattr(value, 'name', None)!r}, not {point.name!r}")
        elif point.name in registry:
            taken = "built-in" if point.name in STAGES else "another plugin's"
            skip_plugin(point, f"the name is taken by a {taken} stage")
        else:
            registry[point.name] = value
    return MappingProxyType(registry)


__all__ = [
    "STAGES",
    "Denoise",
    "MaskFile",
    "Param",
    "Scale",
    "Segment",
    "Stabilize",
    "Stage",
    "Stylize",
    "stage_registry",
]
