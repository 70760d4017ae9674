"""The packages that must stay apart: the Keepa client knows nothing of Django or the app, and the
simulator shares no code with the client it stands in for (each checks the other)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

FORBIDDEN = {
    "keepa_client": {"django", "deals", "dealsite", "keepa_simulator"},
    "keepa_simulator": {"django", "deals", "dealsite", "keepa_client"},
}


def imported_packages(path: Path) -> list[tuple[int, str]]:
    """(line, top-level package) of every absolute import in ``path``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name.split(".")[0]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module.split(".")[0]))
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_the_package_imports_nothing_it_must_stay_apart_from(package):
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"no modules found in {package}/"
    offending = [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for path in files
        for line, name in imported_packages(path)
        if name in FORBIDDEN[package]
    ]
    assert offending == []


def test_the_import_check_sees_a_forbidden_import(tmp_path):
    module = tmp_path / "module.py"
    module.write_text("import json\nfrom keepa_client.wire import X\nif True:\n    import django\n")
    assert imported_packages(module) == [(1, "json"), (2, "keepa_client"), (4, "django")]
