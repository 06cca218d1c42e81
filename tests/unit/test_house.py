"""The walls of the house, read from the source. A service imports only shared/, its own package and
libraries, so that each runs, scales and changes on its own (lazy imports and module names in strings
included); and the run record has one owner, the only code that writes ``sync_runs``."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ROOT / "services"
RUN_MODULE = ROOT / "shared" / "runs.py"
SERVICE_NAMES = sorted(p.name for p in SERVICES.iterdir() if (p / "__init__.py").is_file())
# The command line is the composition of the whole product, not a service: ``python -m services.<name>``
# starts one service through it.
ENTRY_POINT = ("__main__.py", "services.cli")
_MODULE_PATH = re.compile(r"services(\.\w+)+")
_WRITES_RUNS = re.compile(r"\b(INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+sync_runs\b", re.IGNORECASE)


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported(tree: ast.Module, module: str, is_package: bool) -> list[tuple[int, str]]:
    """(line, module) of every import of a ``services`` module: statements anywhere (in functions too),
    relative ones resolved, and strings that name a module (``importlib.import_module``, template loaders)."""
    package = module if is_package else module.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            # ``from services import reconciler`` imports the package ``services.reconciler``.
            found += [
                (node.lineno, f"{base}.{alias.name}" if base == "services" else base) for alias in node.names
            ]
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and _MODULE_PATH.fullmatch(node.value)
        ):
            found.append((node.lineno, node.value))
    return [(line, name) for line, name in found if name == "services" or name.startswith("services.")]


def _foreign_imports(service: str) -> list[str]:
    own = f"services.{service}"
    bad = []
    for path in sorted((SERVICES / service).rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for line, name in _imported(tree, _module_name(path), path.name == "__init__.py"):
            if name == own or name.startswith(own + "."):
                continue
            if (path.name, name) == ENTRY_POINT:
                continue
            bad.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    return bad


def test_there_are_services_to_check():
    assert SERVICE_NAMES == ["fetcher", "notifier", "reconciler", "scheduler"]


@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_a_service_imports_no_other_service(service):
    assert _foreign_imports(service) == []


def test_the_check_sees_lazy_relative_and_string_imports():
    source = (
        "import importlib\n"
        "from services import reconciler\n"
        "from ...notifier.claim import claim_routes\n"
        "def f():\n"
        "    from services.fetcher import runs\n"
        "    return importlib.import_module('services.notifier.render')\n"
    )
    found = {name for _, name in _imported(ast.parse(source), "services.scheduler.api.app", False)}
    assert found == {
        "services.reconciler",
        "services.notifier.claim",
        "services.fetcher",
        "services.notifier.render",
    }


def test_only_the_run_module_writes_the_run_record():
    writers = [
        f"{path.relative_to(ROOT)}: {found.group(0)}"
        for path in sorted([*SERVICES.rglob("*.py"), *(ROOT / "shared").rglob("*.py")])
        if path != RUN_MODULE
        for found in _WRITES_RUNS.finditer(path.read_text())
    ]
    assert writers == []
    assert _WRITES_RUNS.search(RUN_MODULE.read_text())  # the check reads SQL as the module writes it


# Modules every service has, each the same part of its own service.
SERVICE_PARTS = {"__init__", "__main__", "bootstrap", "handlers"}


def test_no_two_services_have_a_module_of_the_same_name():
    owners: dict[str, set[str]] = {}
    for service in SERVICE_NAMES:
        for path in (SERVICES / service).rglob("*.py"):
            owners.setdefault(path.stem, set()).add(service)
    shared_names = {name: sorted(found) for name, found in owners.items() if len(found) > 1}
    assert set(shared_names) <= SERVICE_PARTS, shared_names


def test_no_module_shadows_the_standard_library():
    modules = [*SERVICES.rglob("*.py"), *(ROOT / "shared").rglob("*.py")]
    assert sorted(str(p.relative_to(ROOT)) for p in modules if p.stem in sys.stdlib_module_names) == []
