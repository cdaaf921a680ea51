"""The package's shape: imports run one way (no cycle), and the light commands start without PyTorch."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "streamstyle"


def import_graph() -> dict[str, set[str]]:
    """Module -> the streamstyle modules it imports at module level (``TYPE_CHECKING`` blocks included)."""
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.parse(path.read_text()).body:
            for statement in node.body if isinstance(node, ast.If) else [node]:
                if isinstance(statement, ast.ImportFrom) and statement.module and statement.level == 0:
                    targets = [statement.module, *(f"{statement.module}.{alias.name}" for alias in statement.names)]
                    graph[name] |= {target for target in targets if target in modules and target != name}
    for name, targets in graph.items():  # importing a.b.c first runs the package a.b
        for target in list(targets):
            parts = target.split(".")
            packages = {".".join(parts[:i]) for i in range(2, len(parts))}
            graph[name] |= {p for p in packages if p in modules and p != name and not name.startswith(p + ".")}
    return graph


def test_no_import_cycles() -> None:
    graph = import_graph()
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        path.append(module)
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                pytest.fail("import cycle: " + " -> ".join([*path[path.index(target) :], target]))
            if target not in state:
                visit(target)
        path.pop()
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module)


def test_io_imports_nothing_above_it() -> None:
    for module, targets in import_graph().items():
        if module.startswith("streamstyle.io"):
            above = {t for t in targets if not t.startswith(("streamstyle.io", "streamstyle.errors"))}
            assert not above, f"{module} imports {above}"


@pytest.mark.parametrize("args", [["--help"], ["filters"]])
def test_light_commands_start_without_torch(args: list[str]) -> None:
    code = (
        "import sys; from streamstyle.cli import main\n"
        f"sys.argv = ['streamstyle', *{args!r}]\n"
        "try:\n    main()\nexcept SystemExit as exit:\n    assert exit.code in (0, None), exit.code\n"
        "print('torch' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "False"
