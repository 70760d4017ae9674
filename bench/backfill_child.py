"""The backfill of scenario 4, alone in a fresh process: `python -m bench.backfill_child DB`.

Prints one JSON line: rows, seconds, the SyncRun's outcome and the process's peak RSS.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import setup_django


def rss_mb() -> float:
    # Linux reports ru_maxrss in KiB.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(db_path: Path) -> dict[str, Any]:
    """In the fresh process: set Django up on the filled database and run the backfill."""
    setup_django(db_path, fresh=False)
    import psutil

    from deals import backfill
    from deals.models import Deal

    process = psutil.Process()
    baseline = rss_mb()
    rows = Deal.objects.count()
    samples: list[float] = []

    def progress(state: Any) -> None:
        samples.append(process.memory_info().rss / 2**20)

    start = time.perf_counter()
    sync = backfill.run(progress=progress, trigger="bench")
    seconds = time.perf_counter() - start
    return {
        "rows": rows,
        "seconds": seconds,
        "status": str(sync.status),
        "changed": sync.updated,
        "tokens": sync.tokens_spent,
        "note": sync.note,
        "baseline_mb": baseline,
        "peak_mb": rss_mb(),
        "sampled_peak_mb": max(samples, default=0.0),
    }


if __name__ == "__main__":
    print(json.dumps(child(Path(sys.argv[1]))))
