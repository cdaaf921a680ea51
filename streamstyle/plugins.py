"""Third-party plugins: filters and stages that installed packages declare as entry points.

Two entry point groups are read, once per process:

- ``streamstyle.filters``: each entry point names an attribute that is a path (``str`` or
  ``os.PathLike``) of a folder holding filter folders, e.g. ``my_pkg:FILTERS`` with
  ``FILTERS = Path(__file__).parent / "filters"``. These folders come after
  ``$STREAMSTYLE_FILTER_PATH`` and before the bundled filters on the search path.
- ``streamstyle.stages``: each entry point names a :class:`~streamstyle.stages.Stage` subclass
  whose ``name`` equals the entry point name; graph strings use it under that name. Built-in
  stages win over plugins of the same name.

Entry points are taken in order of their names. One that does not load, or loads to the wrong
kind of object, is skipped with a warning naming it, so the other plugins keep working.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Iterator, Mapping
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from streamstyle.stages import Stage

FILTERS_GROUP = "streamstyle.filters"
STAGES_GROUP = "streamstyle.stages"
log = logging.getLogger(__name__)


@functools.cache
def plugin_filter_dirs() -> tuple[Path, ...]:
    """The filter folders of the ``streamstyle.filters`` plugins (does not import PyTorch)."""
    folders = []
    for point, value in _loaded(FILTERS_GROUP):
        if not isinstance(value, str | os.PathLike):
            _skip(point, f"it is a {type(value).__name__}, not the path of a folder")
        elif not Path(value).is_dir():
            _skip(point, f"{value} is not a folder")
        else:
            folders.append(Path(value))
    return tuple(folders)


@functools.cache
def stage_registry() -> Mapping[str, type[Stage]]:
    """Stage classes by graph name: the built-in ones, then the ``streamstyle.stages`` plugins."""
    from streamstyle.stages import STAGES, Stage  # PyTorch is imported here, not with the module

    registry = dict(STAGES)
    for point, value in _loaded(STAGES_GROUP):
        if not (isinstance(value, type) and issubclass(value, Stage)):
            _skip(point, f"{value!r} is not a streamstyle.stages.Stage subclass")
        elif getattr(value, "name", None) != point.name:
            _skip(point, f"its class's name is {getattr(value, 'name', None)!r}, not {point.name!r}")
        elif point.name in registry:
            taken = "built-in" if point.name in STAGES else "another plugin's"
            _skip(point, f"the name is taken by a {taken} stage")
        else:
            registry[point.name] = value
    return MappingProxyType(registry)


def _loaded(group: str) -> Iterator[tuple[EntryPoint, object]]:
    """The group's entry points, by name, with the objects they load; those that fail are skipped."""
    for point in sorted(entry_points(group=group), key=lambda p: (p.name, p.value)):
        try:
            value = point.load()
        except Exception as exc:  # a plugin's import may fail in any way; it must not stop the others
            _skip(point, f"it does not load: {type(exc).__name__}: {exc}")
        else:
            yield point, value


def _skip(point: EntryPoint, reason: str) -> None:
    package = f" of package {point.dist.name}" if point.dist is not None else ""
    log.warning("skipped %s plugin %r%s (%s): %s", point.group, point.name, package, point.value, reason)
