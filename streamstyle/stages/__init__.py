"""Processing stages and their registry by graph name."""

from streamstyle.stages.base import Param, Stage
from streamstyle.stages.denoise import Denoise
from streamstyle.stages.scale import Scale
from streamstyle.stages.segment import MaskFile, Segment
from streamstyle.stages.stabilize import Stabilize
from streamstyle.stages.stylize import Stylize

STAGES: dict[str, type[Stage]] = {
    stage.name: stage for stage in (Stylize, Scale, Segment, MaskFile, Denoise, Stabilize)
}
"""Stage classes by the name the graph string uses."""

__all__ = ["STAGES", "Denoise", "MaskFile", "Param", "Scale", "Segment", "Stabilize", "Stage", "Stylize"]
