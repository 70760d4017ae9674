"""Run the background worker (`manage.py qcluster`) so that a stop ends it within seconds.

django-q2 stops gracefully only when the cluster's main process alone is signalled, and then
waits for the task in hand, which for a full sweep can be minutes; signalled as a whole process
group (what honcho does on Ctrl-C) it hangs until killed. So the cluster runs in its own
process group, a stop signals its main process, and a task still running after GRACE_S is
abandoned (its run is closed as "interrupted" and redone by the next one). Exits 0 after a
requested stop, else with the worker's own exit status.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

# honcho kills what is left 5 s after a Ctrl-C: stop well inside that.
GRACE_S = 3.0
ROOT = Path(__file__).resolve().parent.parent


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def main() -> int:
    cluster = subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"], cwd=ROOT, start_new_session=True
    )
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        if not stopping:
            stopping = True
            cluster.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    deadline = None
    while True:
        # Short waits: a signal handled during a wait must not leave it blocked for good.
        try:
            status = cluster.wait(timeout=0.2)
            break
        except subprocess.TimeoutExpired:
            if not stopping:
                continue
            if deadline is None:
                deadline = time.monotonic() + GRACE_S
            elif time.monotonic() > deadline:
                print(
                    f"worker: still busy {GRACE_S:g} s after the stop; its task is abandoned "
                    "(the next run redoes it)",
                    flush=True,
                )
                _kill_group(cluster.pid)
    _kill_group(cluster.pid)  # nothing of the cluster outlives it
    return 0 if stopping else status


if __name__ == "__main__":
    sys.exit(main())
