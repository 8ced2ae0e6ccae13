"""The package's layout rules, read from the source with `ast` (nothing here imports the modules it checks).

1. The core (every module under mnist_demo/) never imports gradio, gradio_client, the app's `ui` package or
   `app`: at any depth, function-level and `if TYPE_CHECKING:` imports included, and
   `importlib.import_module("...")` / `__import__("...")` with a literal name count too.
2. A plots module (anything under mnist_demo/plots/) imports
   no model code: no torch in its own source, and none of MODEL_MODULES, directly or through the other
   mnist_demo modules it imports (at any depth: a function-level import still runs when it is called).
3. No import cycle among mnist_demo modules. Every import counts, function-level ones included (a cycle
   that only a function-level import closes still means two modules that cannot be understood apart); only
   imports under `if TYPE_CHECKING:` are left out, because they never run.

Relative imports are resolved against the importing module's package; `from P import name` is an edge to
the submodule P.name when there is one, else to P.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGE = "mnist_demo"
FORBIDDEN_IN_CORE = ("gradio", "gradio_client", "ui", "app")
# Model code a figure builder must not reach: torch itself and our modules that define, train, load or run models.
MODEL_MODULES = ("models", "engine", "registry", "checkpoints", "train", "service", "predict", "evaluate",
                 "ensemble", "explain", "watch", "probes")


@dataclass(frozen=True)
class Import:
    target: str  # absolute dotted name
    line: int
    type_checking_only: bool


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted((REPO / PACKAGE).rglob("*.py"))}


MODULES = _modules()


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _walk(node: ast.AST, type_checking: bool = False) -> Iterator[tuple[ast.AST, bool]]:
    """Every node below `node`, with whether it sits under `if TYPE_CHECKING:`."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child.test):
            for stmt in child.body:
                yield stmt, True
                yield from _walk(stmt, True)
            for stmt in child.orelse:
                yield stmt, type_checking
                yield from _walk(stmt, type_checking)
            continue
        yield child, type_checking
        yield from _walk(child, type_checking)


def _resolve(module: str, is_package: bool, level: int, name: str | None) -> str:
    if not level:
        return name or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([name] if name else []))


def imports_of(module: str) -> list[Import]:
    """Every import in `module`'s source, as absolute names (see the module docstring for what counts)."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(), filename=str(path))
    is_package = path.name == "__init__.py"
    found: list[Import] = []
    for node, tc in _walk(tree):
        if isinstance(node, ast.Import):
            found += [Import(a.name, node.lineno, tc) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(module, is_package, node.level, node.module)
            for a in node.names:
                sub = f"{base}.{a.name}" if base else a.name
                found.append(Import(sub if sub in MODULES else base, node.lineno, tc))
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str):
            f = node.func
            fname = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
            if fname in ("import_module", "__import__"):
                found.append(Import(node.args[0].value, node.lineno, tc))
    return found


def _top(name: str) -> str:
    return name.split(".")[0]


def _internal(target: str) -> str | None:
    """The mnist_demo module an import runs (the longest known prefix), or None for third-party imports."""
    parts = target.split(".")
    for i in range(len(parts), 0, -1):
        if ".".join(parts[:i]) in MODULES:
            return ".".join(parts[:i])
    return None


def _graph(include_type_checking: bool) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for m in MODULES:
        for imp in imports_of(m):
            dep = _internal(imp.target)
            if dep and dep != m and (include_type_checking or not imp.type_checking_only):
                graph[m].add(dep)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _is_plots_module(module: str) -> bool:
    rel = module.split(".")[1:]
    return bool(rel) and rel[0] == "plots"


def test_the_package_is_found() -> None:
    assert f"{PACKAGE}.plots" in MODULES and f"{PACKAGE}.models" in MODULES and len(MODULES) > 20


def test_the_core_never_imports_gradio_or_the_ui() -> None:
    bad = [f"{m}:{imp.line} imports {imp.target}" for m in MODULES for imp in imports_of(m)
           if _top(imp.target) in FORBIDDEN_IN_CORE]
    assert not bad, "the core must not import gradio, ui or app:\n" + "\n".join(bad)


def test_plots_modules_import_no_model_code() -> None:
    graph = _graph(include_type_checking=True)
    forbidden = {f"{PACKAGE}.{m}" for m in MODEL_MODULES}
    bad = []
    for start in filter(_is_plots_module, MODULES):
        # breadth-first over mnist_demo imports, remembering how each module was reached
        via: dict[str, list[str]] = {start: [start]}
        queue = [start]
        while queue:
            m = queue.pop(0)
            if _is_plots_module(m):
                bad += [" -> ".join(via[m]) + f" imports {imp.target} (line {imp.line})"
                        for imp in imports_of(m) if _top(imp.target) == "torch"]
            for dep in sorted(graph[m]):
                if dep in forbidden:
                    bad.append(" -> ".join(via[m] + [dep]))
                elif dep not in via:
                    via[dep] = via[m] + [dep]
                    queue.append(dep)
    assert not bad, "plots modules must build figures from plain arrays, without model code:\n" + "\n".join(bad)


def test_no_import_cycle_in_the_package() -> None:
    cycles = _cycles(_graph(include_type_checking=False))
    assert not cycles, "import cycles among mnist_demo modules:\n" + "\n".join(" <-> ".join(c) for c in cycles)


@pytest.mark.parametrize("source, expected", [
    ("from . import plots\nfrom .data import load_mnist\nimport torch.nn\n",
     ["mnist_demo.plots", "mnist_demo.data", "torch.nn"]),
    ("def f():\n    import gradio as gr\n", ["gradio"]),
    ("import importlib\nm = importlib.import_module('ui.common')\n", ["importlib", "ui.common"]),
])
def test_the_import_reader_resolves_what_it_should(source: str, expected: list[str], tmp_path, monkeypatch) -> None:
    monkeypatch.setitem(MODULES, f"{PACKAGE}.layout_probe", tmp_path / "probe.py")
    (tmp_path / "probe.py").write_text(source)
    assert [i.target for i in imports_of(f"{PACKAGE}.layout_probe")] == expected


def test_cycle_finder_reports_the_modules_of_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_module_of_the_app_is_over_300_lines() -> None:
    """Issue 19's bar: each module small with a clear name, at most 300 lines (the app, and the harness that
    drives it from outside)."""
    files = [*(REPO / PACKAGE).rglob("*.py"), *(REPO / "ui").rglob("*.py"), *(REPO / "harness").rglob("*.py"),
             REPO / "app.py"]
    long = {str(f.relative_to(REPO)): n for f in files if (n := len(f.read_text().splitlines())) > 300}
    assert not long, f"split these modules: {long}"
