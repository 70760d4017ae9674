"""The backfill of scenario 4, alone in a fresh process: `python -m bench.backfill_child DB`.

Prints one JSON line: rows, seconds, the SyncRun's outcome and the process's peak RSS.

Peak RSS is the kernel's high-water mark of this process image (`VmHWM` in /proc/self/status).
`ru_maxrss` is reported too, but on Linux it carries over the high-water mark of the process
that forked this one (the scenario's, which holds the filled table), so it overstates.
"""

from __future__ import annotations

import json
import resource
import sys
import threading
import time
from pathlib import Path
from typing import Any

from bench.common import setup_django


def ru_maxrss_mb() -> float:
    # Linux reports ru_maxrss in KiB.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def vm_hwm_mb() -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def child(db_path: Path) -> dict[str, Any]:
    """In the fresh process: set Django up on the filled database and run the backfill."""
    setup_django(db_path, fresh=False, migrate=False)  # the parent migrated it
    import psutil

    from deals import backfill
    from deals.models import Deal

    process = psutil.Process()
    baseline = vm_hwm_mb() or ru_maxrss_mb()
    rows = Deal.objects.count()
    peak = [0.0]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.02):
            peak[0] = max(peak[0], process.memory_info().rss / 2**20)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    start = time.perf_counter()
    sync = backfill.run(trigger="bench")
    seconds = time.perf_counter() - start
    done.set()
    sampler.join(timeout=5)
    return {
        "rows": rows,
        "seconds": seconds,
        "status": str(sync.status),
        "changed": sync.updated,
        "tokens": sync.tokens_spent,
        "note": sync.note,
        "baseline_mb": baseline,
        "peak_mb": vm_hwm_mb() or ru_maxrss_mb(),
        "ru_maxrss_mb": ru_maxrss_mb(),
        "sampled_peak_mb": peak[0],
    }


if __name__ == "__main__":
    print(json.dumps(child(Path(sys.argv[1]))))
