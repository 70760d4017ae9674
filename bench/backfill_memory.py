"""Scenario 4: a zero-token backfill of every computed column over 50,000 deals.

The table is filled in the scenario's process; the backfill runs in a fresh child process
(`python -m bench.backfill_child DB_PATH`), so its peak RSS (`ru_maxrss`) is the backfill's
own and not the fill's.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from django.db import connection, connections

from bench.common import ROOT, Result, django_env, log
from bench.fill import fill

TARGET_MB = 200


def backfill_in_child(db_path: Path) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", "bench.backfill_child", str(db_path)],
        cwd=ROOT,
        env=django_env(db_path),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"backfill child failed:\n{proc.stderr[-3000:]}")
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    log(f"scenario 4: {data}")
    return data


def run(quick: bool) -> Result:
    result = Result("4", "Backfill at 50,000 deals")
    made = fill(2_000 if quick else 50_000, quick)
    db_path = Path(connection.settings_dict["NAME"])
    with connection.cursor() as cursor:
        # The fill's write-ahead log is the fill's: fold it in, so the child reads a settled
        # database and its memory is the backfill's own.
        cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connections.close_all()
    data = backfill_in_child(db_path)
    again = backfill_in_child(db_path)  # the same backfill once more: nothing left to change
    rate = data["rows"] / data["seconds"]
    result.add(
        "4.rows_per_s",
        "backfill, every computed column, 0 tokens (rows really change)",
        rate,
        "rows/s",
    )
    result.add(
        "4.rows_per_s_again",
        "… the same backfill again (nothing left to change)",
        again["rows"] / again["seconds"],
        "rows/s",
    )
    peak = max(data["peak_mb"], again["peak_mb"])
    result.add(
        "4.peak_rss",
        "backfill process peak RSS (VmHWM), whole process",
        peak,
        "MB",
        f"< {TARGET_MB}",
        peak < TARGET_MB,
    )
    result.add(
        "4.baseline_rss",
        "… of which before the backfill started (Python + Django set up)",
        data["baseline_mb"],
        "MB",
    )
    tokens = data["tokens"] + again["tokens"]
    result.add("4.tokens", "tokens spent", tokens, "tokens", "0", tokens == 0)
    result.notes.append(
        f"{data['rows']:,} rows ({made['templates']} real templates cloned with jittered "
        f"prices, so the economics columns really change) in {data['seconds']:.1f} s, status "
        f"{data['status']}, {data['changed']:,} rows changed; again: {again['seconds']:.1f} s, "
        f"{again['changed']:,} changed. Each run in a fresh `python -m bench.backfill_child` "
        f"process. Peak RSS is the kernel's high-water mark of that process (`VmHWM`); psutil "
        f"sampling every 20 ms saw at most "
        f"{max(data['sampled_peak_mb'], again['sampled_peak_mb']):.0f} MB; `ru_maxrss` said "
        f"{max(data['ru_maxrss_mb'], again['ru_maxrss_mb']):.0f} MB, but on Linux it keeps "
        "the high-water mark of the parent that forked the child (the scenario process, "
        "which filled the table), so it overstates. The first run's "
        f"note: {data['note']}"
    )
    return result
