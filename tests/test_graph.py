"""Graph strings: parsing, checking with columns, formatting, round trips."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamstyle import GraphSyntaxError, Stylize, build_graph, format_graph, parse_graph
from streamstyle.graph import StageSpec


@pytest.mark.parametrize(
    "text",
    [
        "stylize=starry",
        "stylize=starry:strength=0.8",
        "scale=w=1280:h=-2,stylize=starry:strength=0.8:preserve_color=1:scale=0.5",
        "scale=h=720",
        "stylize='my,odd:name'",
    ],
)
def test_round_trip(text: str) -> None:
    specs = parse_graph(text)
    assert format_graph(specs) == text
    assert parse_graph(format_graph(specs)) == specs


def test_positional_and_named_forms_agree() -> None:
    assert parse_graph("scale=640:360") == parse_graph("scale=w=640:h=360")
    assert parse_graph("stylize=starry:0.5") == parse_graph("stylize=style=starry:strength=0.5")
    assert parse_graph("stylize=a\\,b") == [StageSpec("stylize", {"style": "a,b"})]


@pytest.mark.parametrize(
    ("text", "column", "words"),
    [
        ("", 0, "empty graph"),
        ("blur=3", 0, "unknown stage 'blur'"),
        ("stylize=starry,blur", 15, "unknown stage"),
        ("stylize=starry:strenght=1", 15, "unknown option 'strenght'"),
        ("stylize=starry:strength=2", 24, "must be in [0, 1]"),
        ("stylize=starry:strength=x", 24, "strength"),
        ("stylize=starry:preserve_color=maybe", 30, "boolean"),
        ("stylize=strength=0.5", 0, "'style' is required"),
        ("stylize='starry", 8, "unterminated quote"),
        ("scale=w=0", 8, "positive size"),
        ("stylize=starry:strength=0.5:0.7", 28, "expected key=value"),
        ("stylize=starry:strength=1:strength=1", 26, "given twice"),
        (",stylize=starry", 0, "expected a stage name"),
    ],
)
def test_errors_point_at_the_column(text: str, column: int, words: str) -> None:
    with pytest.raises(GraphSyntaxError) as caught:
        parse_graph(text)
    assert caught.value.column == column
    assert words in str(caught.value)
    message_lines = str(caught.value).splitlines()
    assert message_lines[-1].index("^") - 2 == column


def test_built_stages_format_back(tiny_filter: Path) -> None:
    stages = build_graph("stylize=tiny:strength=0.25:preserve_color=true")
    assert isinstance(stages[0], Stylize) and stages[0].strength == 0.25 and stages[0].preserve_color
    assert format_graph(stages) == "stylize=tiny:strength=0.25:preserve_color=1"


def test_graph_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        parse_graph("nope")
