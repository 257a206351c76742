"""Imports point one way (docs/architecture.md): a test that fails on a wrong import or a cycle."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO

PACKAGES = ("events", "rules", "engine", "adapters")
ALLOWED = {
    "events": set(),
    "adapters": {"events"},
    "rules": {"events"},
    "engine": {"events", "rules", "adapters"},
}
ENGINE_MAY_USE_FROM_ADAPTERS = {"adapters.base", "adapters.reader", "adapters.hl7v2.ack", "adapters.mllp",
                                "adapters.mapping", "adapters.fhir"}


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return {name for name in found if name.split(".")[0] in PACKAGES}


def test_imports_point_one_way() -> None:
    problems: list[str] = []
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            for name in imports_of(path):
                top = name.split(".")[0]
                if top == package:
                    continue
                if top not in ALLOWED[package]:
                    problems.append(f"{path.relative_to(REPO)} imports {name}")
                elif package == "engine" and top == "adapters" and name not in ENGINE_MAY_USE_FROM_ADAPTERS:
                    problems.append(f"{path.relative_to(REPO)} imports {name} (not one of the adapter interfaces)")
    assert problems == []


def test_no_import_cycles_between_modules() -> None:
    graph: dict[str, set[str]] = {}
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            module = ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
            graph[module] = {n for n in imports_of(path)}
    # only top-level (module-scope) cycles between packages matter for the one-way rule
    package_edges = {(a.split(".")[0], b.split(".")[0]) for a, bs in graph.items() for b in bs}
    assert not any((b, a) in package_edges for a, b in package_edges if a != b)
