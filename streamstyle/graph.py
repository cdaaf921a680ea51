"""Graph strings: the FFmpeg-like text form of a chain of stages.

``scale=w=1280:h=-2,stylize=starry:strength=0.8`` is two stages separated by ``,``; each is
``name=options`` with options separated by ``:``, given by key (``strength=0.8``) or by
position in the stage's parameter order (``starry`` is ``style``). A value may be quoted
with ``'...'`` or have ``\\`` before a special character (``,:='\\``). Stage names are the
built-in ones and those of installed plugins (:func:`streamstyle.stages.stage_registry`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from streamstyle.errors import GraphSyntaxError, InvalidOptionError
from streamstyle.stages import Stage, stage_registry

SPECIAL = ",:='\\"


@dataclass(frozen=True)
class StageSpec:
    """A parsed, checked but not yet built stage: its name and option texts by key.

    ``columns`` maps each option key (and ``""`` for the stage name) to where it starts in
    the source text, for error messages.
    """

    name: str
    options: dict[str, str]
    columns: dict[str, int] = field(default_factory=dict, compare=False, repr=False)


def parse_graph(text: str) -> list[StageSpec]:
    """Parse and check a graph string: stage names, option keys and option values.

    Raises:
        GraphSyntaxError: the message has a caret under the offending column.
    """
    if not text.strip():
        raise GraphSyntaxError("empty graph", text, 0)
    return [_parse_stage(text, start, end) for start, end in _split(text, ",", 0, len(text))]


def build_graph(graph: str | Sequence[StageSpec]) -> list[Stage]:
    """Build the stages of a graph string (or of parsed specs).

    Raises:
        GraphSyntaxError: the text does not parse or an option is invalid.
        UnknownStyleError, FilterError: a stage's filter cannot be found or loaded.
    """
    specs = parse_graph(graph) if isinstance(graph, str) else graph
    stages = []
    for spec in specs:
        cls = stage_registry()[spec.name]
        values = {key: cls.check_option(key, text) for key, text in spec.options.items()}
        try:
            stages.append(cls(**values))
        except InvalidOptionError as exc:
            if isinstance(graph, str):
                raise GraphSyntaxError(str(exc), graph, spec.columns.get("", 0)) from None
            raise
    return stages


def format_graph(stages: Sequence[Stage | StageSpec]) -> str:
    """The graph string of stages or specs; options at their defaults are left out."""
    return ",".join(_format_spec(s if isinstance(s, StageSpec) else spec_of(s)) for s in stages)


def spec_of(stage: Stage) -> StageSpec:
    """The spec of a built stage, with only the options that differ from their defaults."""
    options = {p.name: _value_text(value) for p in stage.params if (value := getattr(stage, p.name)) != p.default}
    return StageSpec(stage.name, options)


def _format_spec(spec: StageSpec) -> str:
    parts = []
    for index, param in enumerate(stage_registry()[spec.name].params):
        if param.name not in spec.options:
            continue
        value = _quote(spec.options[param.name])
        positional = index == 0 and param.primary
        parts.append(value if positional else f"{param.name}={value}")
    return spec.name + ("=" + ":".join(parts) if parts else "")


def _value_text(value: Any) -> str:
    if isinstance(value, tuple):
        return "+".join(map(str, value))
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _quote(value: str) -> str:
    return f"'{value}'" if any(c in SPECIAL for c in value) and "'" not in value else _escape(value)


def _escape(value: str) -> str:
    return "".join("\\" + c if c in SPECIAL else c for c in value)


def _split(text: str, separator: str, start: int, end: int) -> list[tuple[int, int]]:
    """Spans of ``text[start:end]`` between unquoted, unescaped separators."""
    spans, begin, index, quoted = [], start, start, False
    while index < end:
        char = text[index]
        if char == "\\" and not quoted:
            index += 2
            continue
        if char == "'":
            quoted = not quoted
        elif char == separator and not quoted:
            spans.append((begin, index))
            begin = index + 1
        index += 1
    if quoted:
        raise GraphSyntaxError("unterminated quote", text, text.rindex("'", start, end))
    spans.append((begin, end))
    return spans


def _unquote(text: str, start: int, end: int) -> str:
    out, index, quoted = [], start, False
    while index < end:
        char = text[index]
        if char == "\\" and not quoted:
            if index + 1 >= end:
                raise GraphSyntaxError("dangling backslash", text, index)
            out.append(text[index + 1])
            index += 2
            continue
        if char == "'":
            quoted = not quoted
        else:
            out.append(char)
        index += 1
    return "".join(out)


def _parse_stage(text: str, start: int, end: int) -> StageSpec:
    name_end = text.find("=", start, end)
    name_end = end if name_end < 0 else name_end
    name = text[start:name_end].strip()
    column = start + len(text[start:name_end]) - len(text[start:name_end].lstrip())
    if not name:
        raise GraphSyntaxError("expected a stage name", text, column)
    stages = stage_registry()
    if name not in stages:
        raise GraphSyntaxError(f"unknown stage {name!r}; stages: {', '.join(sorted(stages))}", text, column)
    cls = stages[name]
    params = {p.name: p for p in cls.params}
    options: dict[str, str] = {}
    columns = {"": column}
    args = _split(text, ":", name_end + 1, end) if name_end < end else []
    named = False
    for position, (arg_start, arg_end) in enumerate(args):
        key_end = _find_unquoted(text, "=", arg_start, arg_end)
        if key_end is None:
            if position >= len(cls.params) or named:
                raise GraphSyntaxError(f"{name}: expected key=value", text, arg_start)
            key, value_start = cls.params[position].name, arg_start
        else:
            named = True
            key, value_start = text[arg_start:key_end], key_end + 1
            if key not in params:
                raise GraphSyntaxError(f"{name}: unknown option {key!r}; options: {', '.join(params)}", text, arg_start)
        if key in options:
            raise GraphSyntaxError(f"{name}: option {key!r} given twice", text, arg_start)
        value = _unquote(text, value_start, arg_end)
        try:
            params[key].parse(value)
        except ValueError as exc:
            raise GraphSyntaxError(f"{name}: {key}: {exc}", text, value_start) from None
        options[key] = value
        columns[key] = value_start
    for param in cls.params:
        if param.default is param.REQUIRED and param.name not in options:
            raise GraphSyntaxError(f"{name}: option {param.name!r} is required ({param.help})", text, column)
    return StageSpec(name, options, columns)


def _find_unquoted(text: str, char: str, start: int, end: int) -> int | None:
    spans = _split(text, char, start, end)
    return spans[0][1] if len(spans) > 1 else None
