"""The package's import graph: every module imports in a fresh interpreter, and no internal
import (at module top or inside a function) closes a circle between modules."""

import ast
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _modules():
    """{dotted module name: file path} for every module of helm_efficiency."""
    out = {}
    for root, _, files in os.walk(os.path.join(ROOT, "helm_efficiency")):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(root, name)
                dotted = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")
                out[dotted[: -len(".__init__")] if dotted.endswith(".__init__") else dotted] = path
    return out


def _graph():
    modules = _modules()
    graph = {m: set() for m in modules}
    for module, path in modules.items():
        with open(path) as f:
            tree = ast.parse(f.read(), path)
        for node in ast.walk(tree):
            targets = []
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("helm_efficiency"):
                targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names if a.name.startswith("helm_efficiency")]
            for target in targets:
                if target in modules and target != module and not module.startswith(target + "."):
                    graph[module].add(target)
    return graph


def _a_circle(graph):
    """One circle of the directed graph as a list of modules, or None."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_every_module_imports_in_a_fresh_interpreter():
    modules = sorted(m for m in _modules() if not m.endswith(".__main__"))  # __main__ runs the CLI
    code = "import importlib, sys\nfor m in sys.argv[1:]:\n    importlib.import_module(m)\n"
    done = subprocess.run([sys.executable, "-c", code, *modules], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]


def test_the_import_graph_has_no_circle():
    graph = _graph()
    # a package's __init__ that names its own modules is not a circle between modules
    for package in [m for m in graph if os.path.basename(_modules()[m]) == "__init__.py"]:
        graph[package] = {t for t in graph[package] if not t.startswith(package + ".")}
    assert _a_circle(graph) is None, " -> ".join(_a_circle(graph))


def test_the_circle_finder_finds_a_circle():
    assert _a_circle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _a_circle({"a": {"b"}, "b": set()}) is None


def test_pricing_a_request_needs_no_simulator():
    """Estimating and serving read the shipped tables only: aiconfigurator-core (the `build`
    extra) is never imported on that path."""
    code = ("import sys, pandas as pd\n"
            "from helm_efficiency.pricing.estimate import estimate_idealized, load_tables\n"
            "from helm_efficiency.pricing.efficiency import served_columns\n"
            "r = pd.DataFrame([dict(model='meta/llama-3.1-8b', num_prompt_tokens=500, num_output_tokens=50)])\n"
            "out = served_columns(estimate_idealized(r, load_tables(['h100-trtllm'])), 'h100-trtllm')\n"
            "assert out['idealized_runtime_s'].iloc[0] > 0 and out['served_gpu_s'].iloc[0] > 0\n"
            "assert 'aiconfigurator_core' not in sys.modules, 'the simulator was imported'\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]


# The package's layers, bottom first: a module imports its own layer or a lower one, never a
# higher one. A new package or top-level module must be placed here (the test below says so).
LAYERS = (
    ("errors", "util"),
    ("stacks", "helm_io", "costmodel"),
    ("analytic", "request_table"),
    ("sources", "denoise", "profiling"),
    ("tables",),
    # Builders write what tables/, sources/ and analytic/ read (calibrating, simulating, anchoring,
    # storing fits): above them, so no reader can import a builder; nothing above needs them but
    # the CLI, and they need nothing above (pricing, helm, ...).
    ("builders",),
    ("pricing",),
    ("helm",),
    ("report", "rescore"),
    ("demo",),
    ("cli",),
)
MAX_TOP_LEVEL_MODULES = 6  # besides __init__.py; the rest live in packages that name their job


def _layer(module):
    part = module.split(".")[1]
    return next(i for i, names in enumerate(LAYERS) if part in names)


def test_every_package_has_a_layer_and_the_top_level_is_small():
    parts = {m.split(".")[1] for m in _modules() if m.count(".") >= 1}
    placed = {p for names in LAYERS for p in names}
    assert parts <= placed, f"place {sorted(parts - placed)} in LAYERS"
    top = [n for n in os.listdir(os.path.join(ROOT, "helm_efficiency")) if n.endswith(".py") and n != "__init__.py"]
    assert len(top) <= MAX_TOP_LEVEL_MODULES, sorted(top)


def test_readers_import_no_builder():
    """The read side (everything an estimate, rescore or the metric imports) never reaches builders/."""
    graph = _graph()
    readers = [m for m in graph if m.count(".") >= 1 and _layer(m) < _layer("helm_efficiency.builders")]
    assert readers and not [f"{m} -> {t}" for m in readers for t in graph[m] if t.startswith("helm_efficiency.builders")]


def test_no_module_imports_a_higher_layer():
    graph = _graph()
    upward = [f"{m} -> {t}" for m in graph if m.count(".") >= 1 for t in graph[m] if t.count(".") >= 1 and _layer(t) > _layer(m)]
    assert not upward, "\n".join(sorted(upward))
