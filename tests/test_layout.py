"""The layout's rules, read from the code's own imports: what each package may use.

    router.ari, router.schedule      import nothing else of the router (and not each other)
    router.office                    may import those two
    router.calls                     may import ari, schedule, office
    router.web                       may import ari, schedule, office, calls
    router.app, router.cli           the composition root and the command, on top

No package imports one above it. The pure core (the schedule's model and timeline, local time, the
call flow, the queue, the guidance, the fallback dialplan) imports no I/O library, imports only
other pure modules of the router, and reads no clock. The simulated Asterisk and the router never
import each other, and nothing in the router imports the tests or the benchmarks.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

RANK = {
    "router.ari": 0,
    "router.schedule": 0,
    "router.office": 1,
    "router.calls": 2,
    "router.web": 3,
    "router.app": 4,
    "router.cli": 5,
    "router.__main__": 6,
}
PURE = (
    "router.schedule.model",
    "router.schedule.timeline",
    "router.schedule.localtime",
    "router.calls.flow",
    "router.calls.flow_types",
    "router.calls.callback_offer",
    "router.calls.queue",
    "router.calls.estimate",
    "router.calls.dialout",
    "router.calls.guidance",
    "router.calls.dialplan",
)
IO_LIBRARIES = {"aiohttp", "asyncio", "sqlite3", "socket", "threading", "subprocess", "urllib", "http", "time", "os"}
CLOCK_READS = {"now", "today", "utcnow"}  # datetime.now() and kin; the time module is not imported at all


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> set[str]:
    """Every module `path` imports, anywhere in it (relative imports resolved)."""
    return imports_in(path.read_text(encoding="utf-8"), module_name(path), is_package=path.name == "__init__.py")


def imports_in(source: str, name: str, *, is_package: bool = False) -> set[str]:
    tree = ast.parse(source, name)
    package = name if is_package else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            found.add(target)
            # `from router.calls import flow` imports the module router.calls.flow.
            found.update(f"{target}.{alias.name}" for alias in node.names if (_is_module(f"{target}.{alias.name}")))
    return found


def _is_module(name: str) -> bool:
    base = REPO / Path(*name.split("."))
    return base.with_suffix(".py").exists() or (base / "__init__.py").exists()


def modules(package: str) -> list[Path]:
    return sorted((REPO / package).rglob("*.py"))


def package_of(module: str) -> str | None:
    """The layer a router module belongs to (the longest RANK key that prefixes it)."""
    for key in sorted(RANK, key=len, reverse=True):
        if module == key or module.startswith(key + "."):
            return key
    return None


def test_every_router_module_belongs_to_a_layer() -> None:
    strays = [
        module_name(p) for p in modules("router") if module_name(p) != "router" and package_of(module_name(p)) is None
    ]
    assert strays == [], "put these in a package of the layout (and in RANK)"


def test_no_package_imports_one_above_it_or_beside_it() -> None:
    wrong = []
    for path in modules("router"):
        here = package_of(module_name(path))
        if here is None:
            continue
        for target in imports_of(path):
            there = package_of(target)
            if there is None or there == here:
                continue
            if RANK[there] >= RANK[here]:
                wrong.append(f"{module_name(path)} imports {target}")
    assert wrong == []


def test_the_ari_client_imports_nothing_else_of_the_router() -> None:
    wrong = [
        f"{module_name(p)} imports {t}"
        for p in modules("router/ari")
        for t in imports_of(p)
        if t.split(".")[0] == "router" and not t.startswith("router.ari")
    ]
    assert wrong == []


@pytest.mark.parametrize("pure", PURE)
def test_the_pure_core_does_no_io_reads_no_clock_and_uses_only_the_pure_core(pure: str) -> None:
    path = REPO / Path(*pure.split(".")).with_suffix(".py")
    imported = imports_of(path)
    assert sorted(t for t in imported if t.split(".")[0] in IO_LIBRARIES) == []
    router_imports = {t for t in imported if t.split(".")[0] == "router" and _is_module(t)}
    assert (
        sorted(t for t in router_imports if t not in PURE and t not in ("router", "router.schedule", "router.calls"))
        == []
    )
    tree = ast.parse(path.read_text(encoding="utf-8"))
    clock = [
        f"line {node.lineno}: {ast.unparse(node)}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in CLOCK_READS
    ]
    assert clock == []


def test_importing_the_pure_core_loads_no_io_library() -> None:
    """The same rule at run time: what the pure modules pull in, however indirectly."""
    program = (
        "import sys\n"
        f"import {', '.join(PURE)}\n"
        "loaded = {m.split('.')[0] for m in sys.modules}\n"
        "print(sorted(loaded & {'aiohttp', 'asyncio', 'sqlite3', 'prometheus_client'}))\n"
    )
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True, cwd=REPO)
    assert result.stdout.strip() == "[]"


def test_the_router_never_imports_the_simulator_the_tests_or_the_benchmarks() -> None:
    wrong = [
        f"{module_name(p)} imports {t}"
        for p in modules("router")
        for t in imports_of(p)
        if t.split(".")[0] in ("asterisk_sim", "tests", "bench")
    ]
    assert wrong == []


def test_the_simulator_imports_only_aiohttp_and_the_standard_library() -> None:
    allowed = set(sys.stdlib_module_names) | {"aiohttp", "asterisk_sim", "__future__"}
    plugin = {"pytest"}  # its pytest plugin, which only pytest loads, has pytest too
    wrong = [
        f"{module_name(p)} imports {t}"
        for p in modules("asterisk_sim")
        for t in imports_of(p)
        if t.split(".")[0] not in allowed | (plugin if module_name(p) == "asterisk_sim.pytest_plugin" else set())
    ]
    assert wrong == []


def cycle_in(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle among the modules of `graph` (module -> what it imports), or []."""
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> list[str]:
        if module in path:
            return [*path[path.index(module) :], module]
        if module in done or module not in graph:
            return []
        for target in sorted(graph[module]):
            if found := visit(target, [*path, module]):
                return found
        done.add(module)
        return []

    for module in sorted(graph):
        if found := visit(module, []):
            return found
    return []


@pytest.mark.parametrize(
    "package",
    ["router/ari", "router/calls", "router/cli", "router/office", "router/schedule", "router/web", "asterisk_sim"],
)
def test_no_package_has_an_import_cycle(package: str) -> None:
    """Within a package, modules build on one another in one direction. Where one needs another that builds
    on it (the reconciler the runtime, the control API the simulator's server), it names what it needs as
    a Protocol of its own instead of importing it back, even for type checking only (reconcile.py,
    control_api.py). A package's __init__ taking its own submodules (`from router.cli import common`) is
    not a cycle."""
    graph = {}
    for path in modules(package):
        name = module_name(path)
        graph[name] = imports_of(path) - {name}
    assert cycle_in(graph) == []
    assert cycle_in({"a": {"b"}, "b": {"c", "os"}, "c": {"a"}}) == ["a", "b", "c", "a"]  # the check can fail


def test_the_rules_catch_a_breach() -> None:
    """The checks above can fail: a schedule module importing the calls package, relatively or not, is seen."""
    source = "from router.calls import flow\nimport asyncio\nfrom ..calls.queue import Queue\n"
    imported = imports_in(source, "router.schedule.probe")
    assert {"router.calls.flow", "asyncio", "router.calls.queue"} <= imported
    here, there = package_of("router.schedule.probe"), package_of("router.calls.flow")
    assert here is not None
    assert there is not None
    assert RANK[there] >= RANK[here]


def test_no_router_module_is_over_600_lines() -> None:
    # A module that needs a table of contents is two modules (the project's style: a few hundred lines, never over 600).
    long = {
        str(path.relative_to(REPO)): lines
        for path in sorted((REPO / "router").rglob("*.py"))
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > 600
    }
    assert long == {}
