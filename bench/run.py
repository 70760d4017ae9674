"""Run every benchmark scenario against the local simulator and write a markdown table.

    python -m bench.run            # full sizes; writes bench/RESULTS.md (make bench)
    python -m bench.run --quick    # small sizes, a smoke test; writes bench/out/RESULTS-quick.md

Each scenario runs in its own Python process with its own SQLite file under `bench/out/`
(started clean), so one scenario's memory, patched clocks or threads never touch another's.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import math
import os
import platform
import shlex
import sqlite3
import subprocess
import sys
import time
import traceback
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from bench.common import OUT_DIR, ROOT, Result, cpu_reference_ms, log, setup_django

# id -> (module, title). Each module has `run(quick: bool) -> Result`.
SCENARIOS: dict[str, tuple[str, str]] = {
    "1": ("bench.freshness", "Token economy and freshness"),
    "2": ("bench.ingest_speed", "Ingest speed"),
    "2p": ("bench.ingest_postgres", "Ingest speed on PostgreSQL"),
    "3": ("bench.dashboard", "Dashboard at 50,000 deals"),
    "4": ("bench.backfill_memory", "Backfill at 50,000 deals"),
    "5": ("bench.simulator_speed", "Simulator"),
    "6": ("bench.truth", "Wrong rows on screen"),
    "7": ("bench.scale", "Paced users held at 50,000 deals, SQLite and PostgreSQL"),
    "8": ("bench.workers", "Two workers, one update run at a time (PostgreSQL + Redis)"),
}
# Wall-clock bound per scenario process, against a hung scenario: the longest (1, four
# market variants) takes about 8 minutes on two idle cores, twice that on a busy machine;
# 6 (four markets of 5,000 deals) took 10.6 minutes on a busy one; 7 (two databases, 40 page
# views a step) about 31 minutes on two idle cores.
SCENARIO_TIMEOUT_S = {"full": 50 * 60, "quick": 240}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes (the smoke test)")
    parser.add_argument(
        "--only", default="", help="comma-separated scenario ids to run (default: all)"
    )
    parser.add_argument("--output", type=Path, help="where to write the markdown")
    parser.add_argument(
        "--out-dir", type=Path, help="directory for the bench databases (default bench/out)"
    )
    # Internal: run one scenario in this process.
    parser.add_argument("--scenario", help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    out_dir = (args.out_dir or (OUT_DIR / "quick" if args.quick else OUT_DIR)).resolve()
    if args.scenario:
        return run_scenario(args.scenario, args.quick, out_dir, args.json)

    ids = [s.strip() for s in args.only.split(",") if s.strip()] or list(SCENARIOS)
    unknown = [s for s in ids if s not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(unknown)}")
    output = args.output or (
        OUT_DIR / "RESULTS-quick.md" if args.quick else ROOT / "bench" / "RESULTS.md"
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    results = [spawn(s, args.quick, out_dir) for s in ids]
    python = Path(sys.executable)
    if python.is_relative_to(ROOT):
        python = python.relative_to(ROOT)
    given = sys.argv[1:] if argv is None else argv
    command = shlex.join([str(python), "-m", "bench.run", *given])
    text = render(results, command, time.monotonic() - started, args.quick)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text)
    print(text)
    log(f"wrote {output}")
    return 1 if any(r.error for r in results) else 0


def spawn(scenario: str, quick: bool, out_dir: Path) -> Result:
    """Run one scenario in a fresh Python process; its Result comes back as JSON."""
    title = SCENARIOS[scenario][1]
    result_path = out_dir / f"result-{scenario}.json"
    result_path.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "bench.run", "--scenario", scenario, "--json", str(result_path)]
    cmd += ["--out-dir", str(out_dir)] + (["--quick"] if quick else [])
    log(f"scenario {scenario}: {title}")
    started = time.monotonic()
    timeout = SCENARIO_TIMEOUT_S["quick" if quick else "full"]
    try:
        proc = subprocess.run(cmd, cwd=ROOT, timeout=timeout, check=False)
        code = proc.returncode
    except subprocess.TimeoutExpired:
        code = None
    if result_path.exists():
        result = Result.from_json(json.loads(result_path.read_text()))
    else:
        result = Result(scenario, title)
    if code != 0 and not result.error:
        result.error = "timed out" if code is None else f"exited with status {code}"
    result.seconds = time.monotonic() - started
    failed = f" — {result.error.strip().splitlines()[-1]}" if result.error else ""
    log(f"scenario {scenario} done in {result.seconds:.0f} s{failed}")
    return result


# Scenarios measured on a PostgreSQL server, in a database made for the run and dropped after;
# without a server answering at BENCH_POSTGRES_URL they report why and measure nothing.
POSTGRES_SCENARIOS = {"2p"}
BENCH_POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/postgres"


def postgres_admin_url() -> str:
    return os.environ.get("BENCH_POSTGRES_URL") or BENCH_POSTGRES_URL


def postgres_unreachable() -> str:
    """Why no PostgreSQL server answers at the bench's URL, or "" when one does."""
    import psycopg

    try:
        psycopg.connect(postgres_admin_url(), connect_timeout=3).close()
    except Exception as exc:  # refused, timed out, auth
        return f"no PostgreSQL server answered ({' '.join(str(exc).split())})"
    return ""


@contextlib.contextmanager
def postgres_database(scenario: str) -> Iterator[str]:
    """A fresh database on the bench's PostgreSQL server, dropped afterwards: its URL."""
    import psycopg

    admin_url = postgres_admin_url()
    name = f"deals_bench_{scenario}_{os.getpid()}"
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=3) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(urlsplit(admin_url)._replace(path=f"/{name}"))
    finally:
        from django.db import connections

        connections.close_all()
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=3) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run_scenario(scenario: str, quick: bool, out_dir: Path, json_path: Path | None) -> int:
    module, title = SCENARIOS[scenario]
    db_path = out_dir / f"scenario-{scenario}.sqlite3"
    result = Result(scenario, title)
    code = code_version()  # before the product is imported: what this process runs
    try:
        if scenario in POSTGRES_SCENARIOS:
            reason = postgres_unreachable()
            if reason:
                result.notes.append(f"Skipped: {reason}.")
            else:
                with postgres_database(scenario) as url:
                    setup_django(db_path, database_url=url)
                    result = importlib.import_module(module).run(quick)
        else:
            setup_django(db_path)
            result = importlib.import_module(module).run(quick)
    except Exception:
        result.error = traceback.format_exc(limit=8)
        print(result.error, file=sys.stderr)
    result.code = code
    if json_path:
        json_path.write_text(json.dumps(result.to_json(), indent=1))
    return 1 if result.error else 0


# -- the report ----------------------------------------------------------------------------


def machine() -> str:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        import psutil

        memory = f"{psutil.virtual_memory().total / 2**30:.1f} GiB RAM"
    except Exception:  # psutil is a dev requirement; the report should not need it
        memory = "memory unknown"
    import django

    return (
        f"{os.cpu_count()} CPUs (`nproc`){f' ({cpu})' if cpu else ''}, {memory}, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}, Django {django.get_version()}; CPU reference "
        f"{cpu_reference_ms():.0f} ms at the end of the run (`bench.common.cpu_reference_ms`: "
        "a fixed piece of pure Python; compare runs of different days by it)"
    )


def code_version() -> str:
    """The commit measured, and which product files differed from it (others' work in progress)."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        status = subprocess.run(
            [
                "git",
                "status",
                "--porcelain",
                "--",
                "deals",
                "keepa_client",
                "dealsite",
                "templates",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.splitlines()
    except OSError:
        return "unknown (no git)"
    changed = sorted(line[3:] for line in status if line.strip())
    if not changed:
        return f"commit {head}"
    return f"commit {head} plus uncommitted changes to {', '.join(changed)}"


def codes(results: list[Result]) -> str:
    found = list(dict.fromkeys(r.code for r in results if r.code))
    if len(found) == 1:
        return found[0]
    # The code changed while the bench ran (others commit meanwhile): say which ran what.
    return "; ".join(f"scenario {r.scenario}: {r.code or 'unknown'}" for r in results)


def fmt(value: float) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if value == int(value) and abs(value) < 1e15:
        return f"{int(value):,}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    if abs(value) >= 0.1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def render(results: list[Result], command: str, seconds: float, quick: bool) -> str:
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Benchmarks" + (" (quick smoke run: small sizes, not results)" if quick else ""),
        "",
        f"- Date: {now}",
        f"- Machine: {machine()}",
        f"- Command: `{command}` (from the project folder; `make bench` runs "
        "`.venv/bin/python -m bench.run`)",
        f"- Code: {codes(results)}",
        f"- Wall time: {seconds / 60:.1f} min",
        "",
        "Against the bundled Keepa simulator (seed 1, clock pinned at "
        "2026-01-05 12:00 UTC where time matters). Latencies are medians/percentiles of many "
        "requests in one run; ratios compare measurements made in the same run. Absolute times "
        "vary between machines; the ratios much less.",
        "",
        "| id | measure | value | unit | target | met |",
        "|---|---|---|---|---|---|",
    ]
    for result in results:
        for row in result.rows:
            met = "" if row.met is None else ("yes" if row.met else "**no**")
            lines.append(
                f"| {row.id} | {row.measure} | {fmt(row.value)} | {row.unit} | "
                f"{row.target} | {met} |"
            )
        if result.error:
            lines.append(f"| {result.scenario}.error | scenario failed | n/a | | | **no** |")
    missed = [row for result in results for row in result.rows if row.met is False]
    if missed:
        lines += ["", "Targets missed (what limits each is in its scenario's section below):", ""]
        lines += [
            f"- `{row.id}`: {row.measure}: {fmt(row.value)} {row.unit}, target {row.target}"
            for row in missed
        ]
    for result in results:
        lines += ["", f"## {result.scenario}. {result.title}", ""]
        lines.append(f"Ran in {result.seconds:.0f} s.")
        for note in result.notes:
            lines += ["", note]
        if result.error:
            lines += ["", "**The scenario failed:**", "", "```", result.error.strip(), "```"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
