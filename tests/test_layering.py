"""The packages and rooms that must stay apart (README "Layout"): the Keepa client knows nothing
of Django or the app, the simulator shares no code with the client it stands in for, and inside
the app the screen reaches the jobs only through the django-q2 seam (deals/tasks.py)."""

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


# The app's job modules, and the modules of the screen and the read side that must not import
# them (they ask deals/tasks.py, whose entry points and claims are the one way in).
JOB_MODULES = {
    "deals.jobs",
    "deals.ingest",
    "deals.upsert",
    "deals.enrich",
    "deals.deal_order",
    "deals.prune",
    "deals.backfill",
}
SCREEN_MODULES = [
    "views.py", "urls.py", "admin.py", "costs.py", "dashboard.py", "deal_page.py",
    "formatting.py", "charts.py", "forms.py", "health.py", "templatetags/deals_extras.py",
    "targets.py", "alert_views.py", "alert_forms.py", "alert_urls.py", "triage.py",
    "triage_views.py",
]  # fmt: skip


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, dotted module) of every absolute import in ``path``; ``from deals import x``
    counts as ``deals.x``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return found


@pytest.mark.parametrize("module", SCREEN_MODULES)
def test_the_screen_reaches_the_jobs_only_through_the_task_seam(module):
    path = ROOT / "deals" / module
    offending = [
        f"deals/{module}:{line} imports {name}"
        for line, name in imported_modules(path)
        if name in JOB_MODULES
    ]
    assert offending == []


def test_the_import_check_sees_a_forbidden_import(tmp_path):
    module = tmp_path / "module.py"
    module.write_text("import json\nfrom keepa_client.wire import X\nif True:\n    import django\n")
    assert imported_packages(module) == [(1, "json"), (2, "keepa_client"), (4, "django")]
    module.write_text("from deals import tasks, ingest\nimport deals.prune\n")
    assert {name for _, name in imported_modules(module)} & JOB_MODULES == {
        "deals.ingest",
        "deals.prune",
    }
