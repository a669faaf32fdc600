"""The architecture holds: no import cycles, layers import only downwards, storage owns every SQL,
MongoDB and S3 call, modules stay small, and every module imports on its own."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT

PACKAGES = ("tornado_paste", "handlers")
FEATURES = ("images", "tus", "events", "limits", "previews", "shares")
MAX_LINES = 400
# Entry points inside the package, above services (like run.py): the operators' CLI.
ENTRY_POINTS = ("tornado_paste.admin",)


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


MODULES = _modules()


def _imports(path: Path, runtime_only: bool = False) -> set[str]:
    """Absolute names this module imports (``runtime_only`` leaves out TYPE_CHECKING blocks)."""
    tree = ast.parse(path.read_text())
    skip: set[int] = set()
    if runtime_only:
        for node in ast.walk(tree):
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                skip.update(id(n) for n in ast.walk(node))
    names = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _ours(names: set[str]) -> set[str]:
    """The imported names that are modules of ours (``from a import b`` counts b when b is a module)."""
    return {n for n in names if n in MODULES}


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if parts[0] == "tornado_paste" and len(parts) > 1 else parts[0]


def test_every_module_imports_on_its_own():
    """Each module imported first, in a fresh module table: no import-order dependency, no cycle trap."""
    script = (
        "import importlib, sys\n"
        "ours = ('tornado_paste', 'handlers', 'settings', 'run')\n"
        f"for name in {sorted(MODULES)!r}:\n"
        "    for loaded in [m for m in sys.modules if m.split('.')[0] in ours]:\n"
        "        del sys.modules[loaded]\n"
        "    importlib.import_module(name)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]


def test_no_import_cycle():
    graph = {m: _ours(_imports(p, runtime_only=True)) - {m} for m, p in MODULES.items()}
    # A package's __init__ importing its own submodules is not a cycle through the package.
    for module, deps in graph.items():
        graph[module] = {d for d in deps if not (module.startswith(d + ".") and MODULES[d].name == "__init__.py")}
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                cycle = [*trail[trail.index(dep):], dep] if dep in trail else [node, dep]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if dep not in state:
                visit(dep, [*trail, dep])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])


def _violations(rule) -> list[str]:
    bad = []
    for module, path in MODULES.items():
        for name in sorted(_imports(path)):
            if rule(module, name):
                bad.append(f"{module} imports {name}")
    return bad


def test_storage_imports_nothing_from_features_or_handlers():
    allowed = ("tornado_paste.storage", "tornado_paste.core.records", "tornado_paste.errors")

    def rule(module: str, name: str) -> bool:
        return (module.startswith("tornado_paste.storage") and name.split(".")[0] in ("tornado_paste", "handlers")
                and not name.startswith(allowed))

    assert _violations(rule) == []


def test_only_storage_speaks_sql_mongodb_or_s3():
    def rule(module: str, name: str) -> bool:
        return name.split(".")[0] in ("sqlite3", "pymongo", "aiobotocore", "botocore", "boto3") \
            and not module.startswith("tornado_paste.storage")

    assert _violations(rule) == []


def test_the_core_knows_no_http():
    def rule(module: str, name: str) -> bool:
        if not module.startswith("tornado_paste"):
            return False
        return name.split(".")[0] == "handlers" or name.startswith(
            ("tornado.web", "tornado.httputil", "tornado.websocket", "tornado.httpserver"))

    assert _violations(rule) == []


def test_only_services_wires_features():
    """Features never import each other (tus may use retention) nor services; core imports no feature."""

    def rule(module: str, name: str) -> bool:
        if not module.startswith("tornado_paste") or not name.startswith("tornado_paste."):
            return False
        if module.startswith(ENTRY_POINTS):
            return False  # like run.py: above services, builds them
        if name.startswith("tornado_paste.services"):
            return True
        mine, theirs = _layer(module), _layer(name)
        if theirs not in FEATURES or mine == theirs or mine == "services":
            return False
        return not (mine == "tus" and name.startswith("tornado_paste.limits.retention"))

    assert _violations(rule) == []


def test_no_module_is_over_400_lines():
    long = {m: n for m, p in MODULES.items() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}


def test_every_subpackage_says_what_it_owns_and_may_import():
    for module, path in MODULES.items():
        if path.name == "__init__.py" and module.count(".") == 1 and module.startswith("tornado_paste."):
            doc = ast.get_docstring(ast.parse(path.read_text())) or ""
            assert "May import" in doc or "backend" in doc, f"{module}: say what it owns and may import"


def test_the_client_knows_nothing_of_the_server():
    """tornado_paste.client talks HTTP to a server like any client: no module of ours besides itself."""

    def rule(module: str, name: str) -> bool:
        return (module.startswith("tornado_paste.client") and name.split(".")[0] in ("tornado_paste", "handlers",
                                                                                     "settings", "run")
                and not name.startswith("tornado_paste.client"))

    assert _violations(rule) == []
