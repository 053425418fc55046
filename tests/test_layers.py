"""The layers of `core`, declared once, checked on every import the code makes.

Each layer may import only itself and the layers below it; imports inside functions count (an
import moved into a function to dodge a circle is still the circle). No module imports a
`_private` name from another module, and the clients (`dashboard`, `pages`, `benchmarks`) sit
above all of `core`, which never imports them.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Bottom to top. A package's modules may import its own package and anything listed before it.
LAYERS = [
    "core.config",
    "core.data",
    "core.train",
    "core.teacher",
    "core.methods",
    "core.evaluate",
    "core.export",
    "core.runs",
    "core.workers",
    "core.cli",
    "core.__main__",
]
CLIENTS = ("dashboard", "pages", "benchmarks")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> int | None:
    """Index of the layer a `core...` module belongs to (None: the package root `core`)."""
    for i, layer in enumerate(LAYERS):
        if module == layer or module.startswith(layer + "."):
            return i
    return None


def is_module(name: str) -> bool:
    path = ROOT / name.replace(".", "/")
    return path.is_dir() or path.with_suffix(".py").is_file()


def imports(path: Path) -> list[tuple[int, str, list[str]]]:
    """(line, absolute module, imported names) for every import in the file, functions included."""
    tree = ast.parse(path.read_text("utf-8"))
    me = module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.extend((node.lineno, a.name, []) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            names = [a.name for a in node.names]
            # `from core.data import pairs` imports the module core.data.pairs
            subs = [f"{module}.{n}" for n in names if is_module(f"{module}.{n}")]
            out.append((node.lineno, module, names))
            out.extend((node.lineno, s, []) for s in subs)
    return out


def core_files() -> list[Path]:
    return sorted((ROOT / "core").rglob("*.py"))


def upward_imports(files: list[Path]) -> list[str]:
    bad = []
    for path in files:
        me = module_name(path)
        mine = layer_of(me)
        for line, module, _ in imports(path):
            if not module.startswith("core") or module == "core":
                if module.split(".")[0] in CLIENTS:
                    bad.append(f"{me}:{line} imports the client {module}")
                continue
            theirs = layer_of(module)
            if mine is not None and theirs is not None and theirs > mine:
                bad.append(
                    f"{me}:{line} imports {module} (layer {LAYERS[theirs]} is above {LAYERS[mine]})"
                )
    return bad


def cycles(files: list[Path]) -> list[list[str]]:
    """Import circles between modules of `core` (functions included), by depth-first search."""
    graph: dict[str, set[str]] = {}
    known = {module_name(p) for p in files}
    for path in files:
        me = module_name(path)
        deps = {m for _, m, _ in imports(path) if m in known and m != me}
        graph[me] = deps
    found, state = [], {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                found.append(stack[stack.index(dep) :] + [dep])
            elif dep not in state:
                visit(dep, stack)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [])
    return found


def private_imports(files: list[Path]) -> list[str]:
    bad = []
    for path in files:
        me = module_name(path)
        for line, module, names in imports(path):
            if module.split(".")[0] not in ("core", "dashboard"):
                continue
            for name in names:
                if name.startswith("_") and not name.startswith("__") and module != me:
                    bad.append(f"{me}:{line} imports {module}.{name}")
    return bad


def client_files() -> list[Path]:
    return sorted(p for c in CLIENTS for p in (ROOT / c).rglob("*.py"))


def test_every_core_module_belongs_to_a_declared_layer():
    loose = [module_name(p) for p in core_files() if layer_of(module_name(p)) is None]
    assert loose == ["core"], f"modules outside every layer: {loose}"


def test_no_layer_imports_a_layer_above_it():
    assert upward_imports(core_files()) == []


def test_no_import_circles_in_core():
    assert cycles(core_files()) == []


def test_no_private_name_crosses_a_module_boundary():
    assert private_imports(core_files() + client_files()) == []


def test_core_never_imports_streamlit():
    bad = [
        f"{module_name(p)}:{line}"
        for p in core_files()
        for line, module, _ in imports(p)
        if module.split(".")[0] == "streamlit"
    ]
    assert bad == []


@pytest.fixture
def fake_core(tmp_path):
    """A throwaway tree laid out like core/, to prove the checks catch what they claim to."""
    globals()["ROOT"] = tmp_path
    for pkg in ("core", "core/data", "core/runs"):
        (tmp_path / pkg).mkdir()
        (tmp_path / pkg / "__init__.py").write_text("")
    yield tmp_path
    globals()["ROOT"] = Path(__file__).resolve().parent.parent


def test_the_checks_catch_a_circle_an_upward_import_and_a_private_name(fake_core):
    (fake_core / "core/data/a.py").write_text("def f():\n    from core.data.b import g\n")
    (fake_core / "core/data/b.py").write_text("from core.data.a import f\n")
    (fake_core / "core/data/c.py").write_text("def h():\n    from core.runs.store import Store\n")
    (fake_core / "core/runs/store.py").write_text("from core.data.a import _hidden\n")
    files = sorted(fake_core.rglob("*.py"))
    assert cycles(files) == [["core.data.a", "core.data.b", "core.data.a"]]
    assert upward_imports(files) == [
        "core.data.c:2 imports core.runs.store (layer core.runs is above core.data)"
    ]
    assert private_imports(files) == ["core.runs.store:1 imports core.data.a._hidden"]
