"""The package's layout: no import cycles, the test oracles outside the production path, and the
glrnet 0.1 module names still importable (with a DeprecationWarning)."""
import ast
import importlib
import pathlib
import sys
import warnings

import pytest

import glrnet
from glrnet import _aliases

PACKAGE = pathlib.Path(glrnet.__file__).parent


def _module_name(path):
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _import_graph():
    """module -> the glrnet modules it imports, at any level (module, class or function body)."""
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    compiled = {f"glrnet.{p.name.split('.')[0]}" for p in PACKAGE.glob("*.so")} - set(modules)
    graph = {name: set() for name in compiled}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = package.split(".")
                base = base[:len(base) - node.level + 1] if node.level else []
                stem = ".".join(base + ([node.module] if node.module else []))
                targets = [f"{stem}.{a.name}" if f"{stem}.{a.name}" in graph.keys() | modules.keys() else stem
                           for a in node.names]
            else:
                continue
            edges |= {t for t in targets if (t in modules or t in compiled) and t != name}
        graph[name] = edges
    return graph


def _cycles(graph):
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_the_graph_sees_function_level_imports():
    graph = _import_graph()
    assert "glrnet.method.network" in graph["glrnet.method.training"]
    assert "glrnet.method.dense" in graph["glrnet.testing.oracle"]
    assert "glrnet._glrcore" in graph["glrnet._config"]
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_module_imports_one_that_imports_it_back():
    assert _cycles(_import_graph()) == []


def test_production_code_does_not_import_the_test_oracles():
    graph = _import_graph()
    users = sorted(m for m, edges in graph.items() if not m.startswith("glrnet.testing")
                   and any(e.startswith("glrnet.testing") for e in edges))
    assert users == []


@pytest.mark.parametrize("old, new", sorted(_aliases.MOVED.items()))
def test_old_module_names_still_import(old, new):
    sys.modules.pop(old, None)
    with pytest.warns(DeprecationWarning, match=f"{old} moved to {new}"):
        module = importlib.import_module(old)
    assert module is importlib.import_module(new)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert importlib.import_module(old) is module      # warned once, then cached


def test_public_api_is_importable_from_the_top():
    for name in glrnet.__all__:
        assert getattr(glrnet, name) is not None
    assert glrnet.load is glrnet.load_model


def test_import_glrnet_leaves_the_heavy_dependencies_for_first_use():
    """`import glrnet` took 1.08 s in glrnet 0.1, 1.0 s of it in sklearn.base: scikit-learn, scipy's
    submodules, matplotlib and tqdm are imported where they are first needed."""
    import subprocess

    code = ("import sys, glrnet; heavy = ['sklearn', 'scipy.stats', 'scipy.special', 'matplotlib', 'tqdm', 'pandas'];"
            "print([m for m in heavy if m in sys.modules])")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == "[]"
    assert glrnet.GLRClassifier.__name__ == "GLRClassifier"          # still there, on first use
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        glrnet.nothing  # noqa: B018
