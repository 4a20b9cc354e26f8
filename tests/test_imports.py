"""The package's modules import one way: no import cycles, and every import points at the same layer or a
lower one (module -> layer below):

    op tables (ops/) <- IR <- front end <- passes <- code generation <- runtime <- export <- bench, cli, API

Imports are read from the source (every `import`, at the top or inside a function, TYPE_CHECKING ones
included), so a deferred import cannot hide a cycle; then every module is imported in a fresh interpreter.
"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "wgslgrad"

# layer -> the modules in it (names relative to wgslgrad; a prefix ending in "." takes a whole subpackage)
LAYERS: list[tuple[str, list[str]]] = [
    ("op tables", ["ops", "ops."]),
    ("IR", ["compiler", "compiler.ir", "compiler.errors", "compiler.memory", "compiler.summary", "compiler.program"]),
    ("front end", ["compiler.ast", "compiler.parse", "compiler.values", "compiler.builtins", "compiler.build",
                   "compiler.limits", "compiler.frontend"]),
    ("passes", ["compiler.autodiff", "compiler.training", "compiler.fuse", "compiler.numpy_ref", "compiler.gradcheck",
                "compiler.inference"]),
    ("code generation", ["compiler.kernel_builder", "compiler.lower", "compiler.lower_"]),
    ("runtime", ["runtime", "runtime.", "knn"]),
    ("export", ["export", "export."]),
    ("top", ["", "__main__", "cli", "model", "images", "datasets", "text", "vision", "vision.", "bench", "bench."]),
]


def modules() -> dict[str, Path]:
    """Module name (relative to wgslgrad, "" for the package) -> its file."""
    out = {}
    for p in sorted(PACKAGE.rglob("*.py")):
        parts = p.relative_to(PACKAGE).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = p
    return out


def imports(mods: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the package's modules it imports (anywhere in its source)."""
    edges: dict[str, set[str]] = {}
    for name, path in mods.items():
        pkg = name if path.name == "__init__.py" else name.rpartition(".")[0]
        out: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = [x for x in pkg.split(".") if x]
                    base = base[:len(base) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                elif node.module and node.module.startswith("wgslgrad"):
                    target = node.module.removeprefix("wgslgrad").lstrip(".")
                else:
                    continue
                subs = {f"{target}.{a.name}".lstrip(".") for a in node.names} & mods.keys()
                out |= subs or ({target} & mods.keys())
            elif isinstance(node, ast.Import):
                out |= {a.name.removeprefix("wgslgrad").lstrip(".") for a in node.names
                        if a.name.startswith("wgslgrad")} & mods.keys()
        edges[name] = out - {name}
    return edges


def layer(name: str) -> int:
    for k, (_, members) in enumerate(LAYERS):
        if any(name == m or (m.endswith((".", "_")) and name.startswith(m)) for m in members):
            return k
    raise AssertionError(f"module wgslgrad.{name} has no layer: add it to LAYERS in {Path(__file__).name}")


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles() -> None:
    found = cycles(imports(modules()))
    assert not found, "import cycles: " + "; ".join(" <-> ".join(c) for c in found)


def test_imports_point_down_the_layers() -> None:
    edges = imports(modules())
    bad = [f"wgslgrad.{a} ({LAYERS[layer(a)][0]}) imports wgslgrad.{b} ({LAYERS[layer(b)][0]})"
           for a, bs in sorted(edges.items()) for b in sorted(bs)
           if layer(b) > layer(a)]
    assert not bad, "imports up the layers:\n" + "\n".join(bad)


def test_every_module_imports() -> None:
    """Every module imports in a fresh interpreter (importing any of them runs wgslgrad/__init__.py first, which
    loads the API's modules in one order; this also loads those the API does not: bench, vision, ...)."""
    names = ["wgslgrad" + ("." + n if n else "") for n in modules()]
    script = f"import importlib\nfor name in {names!r}:\n    importlib.import_module(name)\n"
    r = subprocess.run([sys.executable, "-c", script], check=False, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
