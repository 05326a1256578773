"""The product modules form no import cycle: a new one fails here, not in a newcomer's head.

Module-level imports only (an import inside a function is how code deliberately breaks a
cycle at run time, e.g. Django's app registry); tests and migrations are left out.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("accounts", "billing", "generations", "gih")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _product_modules() -> dict[str, Path]:
    modules = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            relative = path.relative_to(ROOT).parts
            if "tests" in relative or "migrations" in relative or "management" in relative:
                continue
            modules[_module_name(path)] = path
    return modules


def _imports(path: Path, modules: dict[str, str]) -> set[str]:
    found = set()
    for node in ast.parse(path.read_text()).body:  # top level only
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        for name in names:
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name:
                found.add(name)
    return found


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    cycles, state, stack = [], {}, []

    def visit(node: str) -> None:
        state[node] = "open"
        stack.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == "open":
                cycles.append([*stack[stack.index(target) :], target])
            elif target not in state:
                visit(target)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return cycles


def test_it_finds_no_import_cycle_among_product_modules():
    modules = _product_modules()
    graph = {
        name: {target for target in _imports(path, modules) if target != name and not name.startswith(target + ".")}
        for name, path in modules.items()
    }
    assert _cycles(graph) == []


def test_it_would_notice_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]
