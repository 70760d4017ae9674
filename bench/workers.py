"""Scenario 8: two django-q2 workers never overlap their update runs.

Two real `manage.py qcluster` processes, each under its own host name (`DEALS_HOSTNAME`), pull
tasks from one Redis queue and write to one PostgreSQL database made for the run; the simulator
(in this process, over HTTP) stands in for Keepa. The schedules are switched off, so only what
this scenario queues runs. Once both workers have run a heartbeat, update runs are queued in
bursts a few seconds apart, and the SyncRun rows are read once every queued run is recorded and
none is `running` (or a bounded wait is over). One at a time means: no two runs that ran
overlap in time, and each run that found the lock held recorded "already running".

Needs a PostgreSQL server (`BENCH_POSTGRES_URL`, as scenarios 2p and 7) and a Redis server
(`BENCH_REDIS_URL`, default redis://127.0.0.1:6379/0; the scenario claims one of its empty
databases 1-15 and empties it afterwards). Without either, it says why and measures nothing;
with `CI=true` their absence is an error, as in the tests.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from bench.common import ROOT, Result, Sim, django_env, log, median

TITLE = "Two workers, one update run at a time (PostgreSQL + Redis)"
HOSTS = ("worker-a", "worker-b")
KEY = "bench"
REDIS_URL = "redis://127.0.0.1:6379/0"
CLAIM_KEY = "deals-bench:claimed"
HEARTBEAT_WAIT_S = 90  # both workers up and taking tasks
MIGRATE_TIMEOUT_S = 300


@dataclass
class Plan:
    """How many update runs are queued, and how; quick keeps the smoke test short."""

    quick: bool
    updates: int = field(init=False)
    burst: int = field(init=False)
    gap_s: float = field(init=False)
    settle_s: float = field(init=False)
    products: int = field(init=False)

    def __post_init__(self) -> None:
        # The busy market; at full size its first run (the first fill, about 1,400 deals)
        # takes seconds, so the bursts after the first land on a run still going.
        self.products = 1500 if self.quick else 6000
        self.updates = 4 if self.quick else 12
        self.burst = 2 if self.quick else 3
        # Seconds between bursts: shorter than the first run (about 6 s at full size, 1-2 s
        # quick), so a burst may land on a run still going, not only on its own first run.
        self.gap_s = 2
        # The bound on waiting for every queued run to be recorded and finished.
        self.settle_s = 60 if self.quick else 120

    @property
    def bursts(self) -> list[int]:
        full, rest = divmod(self.updates, self.burst)
        return [self.burst] * full + ([rest] if rest else [])


# -- the rule for the servers ----------------------------------------------------------------


def in_ci() -> bool:
    """CI provides the servers: there a missing one is an error, not a reason to skip."""
    return os.environ.get("CI", "").lower() == "true"


def redis_admin_url() -> str:
    return os.environ.get("BENCH_REDIS_URL") or REDIS_URL


def redis_unreachable(url: str) -> str:
    """Why no Redis server answers at `url`, or "" when one does."""
    import redis

    client = redis.from_url(url, socket_connect_timeout=3, socket_timeout=3)
    try:
        client.ping()
    except Exception as exc:  # refused, timed out, auth
        return f"no Redis server answered at {url} ({' '.join(str(exc).split())})"
    finally:
        client.close()
    return ""


def claim_redis_database(url: str, stack: contextlib.ExitStack) -> str:
    """The URL of an empty Redis database (15 down to 1) claimed for this run, emptied when
    `stack` closes. The queue's name is fixed by the app's settings, so the run needs a
    database of its own on a shared server."""
    import redis

    token = secrets.token_hex(8)
    for number in range(15, 0, -1):
        candidate = urlunsplit(urlsplit(url)._replace(path=f"/{number}"))
        client = redis.from_url(candidate, socket_connect_timeout=3)
        if client.dbsize() == 0 and client.set(CLAIM_KEY, token, nx=True, ex=900):
            stack.callback(client.close)
            stack.callback(client.flushdb)
            return candidate
        client.close()
    raise RuntimeError(f"no empty Redis database (1-15) to claim at {url}")


# -- what is measured --------------------------------------------------------------------------


def overlapping_pairs(spans: Sequence[tuple[datetime, datetime | None]]) -> int:
    """How many pairs of (start, end) spans overlap in time. Touching (one ends the instant the
    next starts) is not overlapping; a span with no end never ended, so it overlaps every span
    that starts after it."""
    count = 0
    for i, (start_a, end_a) in enumerate(spans):
        for start_b, end_b in spans[i + 1 :]:
            a_before_b = end_a is not None and end_a <= start_b
            b_before_a = end_b is not None and end_b <= start_a
            if not (a_before_b or b_before_a):
                count += 1
    return count


def refused_by_other(
    ran: Sequence[tuple[str, datetime, datetime | None]], skipped: Sequence[tuple[str, datetime]]
) -> int:
    """How many skipped runs (host, when) were recorded while a run of another host
    (host, start, end) was going: the lock refusing one worker while the other held it."""
    return sum(
        1
        for host, when in skipped
        if any(
            other != host and start <= when and (end is None or when <= end)
            for other, start, end in ran
        )
    )


def wait_for(condition: Callable[[], bool], seconds: float, step: float = 0.5) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return condition()


def open_queue(
    env: dict[str, str], database_url: str, redis_url: str, stack: contextlib.ExitStack
) -> tuple[Any, Callable[..., None]]:
    """Migrate the workers' database (schedules off: only what is queued runs) and return a
    connection to it and a function that queues a task on their Redis broker."""
    import psycopg
    import redis
    from django.conf import settings
    from django_q.brokers.redis_broker import Redis
    from django_q.tasks import async_task

    migrate = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=MIGRATE_TIMEOUT_S,
    )
    if migrate.returncode != 0:
        raise RuntimeError(f"migrate failed:\n{migrate.stderr[-3000:]}")
    db = stack.enter_context(psycopg.connect(database_url, autocommit=True))
    db.execute("UPDATE django_q_schedule SET repeats = 0")
    broker = Redis(list_key=settings.Q_CLUSTER["name"])
    broker.connection = redis.from_url(redis_url)
    stack.callback(broker.connection.close)

    def queue(func: str, *args: object) -> None:
        async_task(func, *args, broker=broker, sync=False)

    return db, queue


def beat_until_all_seen(
    queue: Callable[[str], None], seen: Callable[[], set[str]], seconds: float
) -> bool:
    """Queue a heartbeat for each worker at once, every 1.3 s, until every host in HOSTS has
    run one (a worker takes tasks once it has): True when all did within `seconds`. Queued one
    at a time every second, the beats all went to the same worker for over a minute in one
    run (each worker waits on the queue a second at a time; the queueing seems to have fallen
    in step with that)."""
    from deals import tasks

    def all_beat() -> bool:
        for _ in HOSTS:
            queue(tasks.HEARTBEAT_TASK)
        return seen() == set(HOSTS)

    return wait_for(all_beat, seconds, step=1.3)


@contextlib.contextmanager
def workers(env: dict[str, str], logs: Path) -> Iterator[list[subprocess.Popen]]:
    """One `manage.py qcluster` per host name, each in its own process group, killed (with
    every process of its group) on the way out."""
    clusters: list[subprocess.Popen] = []
    handles = []
    try:
        for host in HOSTS:
            handle = (logs / f"scenario-8-{host}.log").open("w")
            handles.append(handle)
            clusters.append(
                subprocess.Popen(
                    [sys.executable, "manage.py", "qcluster"],
                    cwd=ROOT,
                    env={**env, "DEALS_HOSTNAME": host},
                    stdout=handle,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        yield clusters
    finally:
        for cluster in clusters:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(cluster.pid, signal.SIGKILL)
            cluster.wait(timeout=10)
        for handle in handles:
            handle.close()


def run(quick: bool) -> Result:
    from bench.run import postgres_admin_url, postgres_database, postgres_unreachable

    result = Result("8", TITLE)
    missing = [
        reason
        for reason in (postgres_unreachable(), redis_unreachable(redis_admin_url()))
        if reason
    ]
    if missing:
        why = "; ".join(missing)
        if in_ci():
            raise RuntimeError(f"{why} (CI=true: the servers are required)")
        result.notes.append(
            f"Skipped: {why}. Set BENCH_POSTGRES_URL (now {postgres_admin_url()}) and "
            f"BENCH_REDIS_URL (now {redis_admin_url()}) to servers that answer to run it."
        )
        log(f"scenario 8 skipped: {why}")
        return result

    from django.db import connection

    plan = Plan(quick)
    out_dir = Path(connection.settings_dict["NAME"]).parent
    sim = Sim(plan.products, at=None, keys=(KEY,))  # on the real clock, as the workers are
    try:
        sim.key(KEY, tokens=10**9, refill_rate=0)
        with contextlib.ExitStack() as stack:
            database_url = stack.enter_context(postgres_database("8"))
            redis_url = claim_redis_database(redis_admin_url(), stack)
            data = measure(plan, sim, database_url, redis_url, out_dir, stack)
    finally:
        sim.stop()
    report(result, plan, data)
    return result


def measure(
    plan: Plan,
    sim: Sim,
    database_url: str,
    redis_url: str,
    out_dir: Path,
    stack: contextlib.ExitStack,
) -> dict[str, Any]:
    from django.conf import settings

    from deals import tasks

    env = django_env(
        out_dir / "scenario-8-unused.sqlite3",
        DATABASE_URL=database_url,
        Q_BROKER_URL=redis_url,
        KEEPA_API_URL=sim.url,
        KEEPA_API_KEY=KEY,
        KEEPA_MAX_TOKEN_WAIT_S="0",
        DJANGO_SECRET_KEY=settings.SECRET_KEY,  # the queue's payloads are signed with it
        DJANGO_LOG_LEVEL="INFO",  # a line per job run in the workers' logs
        # One cache for both workers, as on one host, and none but theirs.
        CACHE_URL=f"file://{out_dir / 'scenario-8-cache'}",
    )
    started = time.monotonic()
    db, queue = open_queue(env, database_url, redis_url, stack)
    log(f"scenario 8: PostgreSQL database migrated in {time.monotonic() - started:.0f} s")

    def hosts_beating() -> set[str]:
        return {name for (name,) in db.execute("SELECT name FROM deals_workerheartbeat")}

    def update_runs() -> list[tuple]:
        return db.execute(
            "SELECT status, host, started_at, finished_at, note "
            "FROM deals_syncrun WHERE kind = 'update' ORDER BY started_at"
        ).fetchall()

    def settled() -> bool:
        runs = update_runs()
        return len(runs) >= queued and all(status != "running" for status, *_ in runs)

    queued = 0
    with workers(env, out_dir):
        # A worker takes tasks once it has run a heartbeat (its own host name in the table).
        started = time.monotonic()

        if not beat_until_all_seen(queue, hosts_beating, HEARTBEAT_WAIT_S):
            raise RuntimeError(
                f"workers seen in {HEARTBEAT_WAIT_S} s: {sorted(hosts_beating())}; "
                f"logs in {out_dir}/scenario-8-worker-*.log"
            )
        up_s = time.monotonic() - started
        log(f"scenario 8: both workers up in {up_s:.0f} s")
        started = time.monotonic()
        for n, size in enumerate(plan.bursts):
            if n:
                time.sleep(plan.gap_s)
            for _ in range(size):
                queue(tasks.UPDATE_TASK, "schedule")
            queued += size
        done = wait_for(settled, plan.settle_s)
        settle_s = time.monotonic() - started
        state = "all" if done else "not all"
        log(f"scenario 8: {queued} updates queued, {state} settled in {settle_s:.0f} s")
        runs = update_runs()
    (deals,) = db.execute("SELECT count(*) FROM deals_deal").fetchone()
    (distinct,) = db.execute("SELECT count(DISTINCT asin) FROM deals_deal").fetchone()
    return {
        "queued": queued,
        "done": done,
        "up_s": up_s,
        "settle_s": settle_s,
        "runs": runs,
        "deals": deals,
        "distinct": distinct,
    }


def report(result: Result, plan: Plan, data: dict[str, Any]) -> None:
    queued, runs = data["queued"], data["runs"]
    ran = [run for run in runs if run[0] != "skipped"]
    skipped = [run for run in runs if run[0] == "skipped" and run[4] == "already running"]
    hosts = {run[1] for run in runs}
    overlaps = overlapping_pairs([(run[2], run[3]) for run in ran])
    duplicates = data["deals"] - data["distinct"]
    result.add("8.queued", "update runs queued", queued, "runs")
    finished = [run for run in runs if run[0] != "running"]
    result.add(
        "8.recorded",
        f"update runs recorded and finished (waited up to {plan.settle_s:.0f} s)",
        len(finished),
        "runs",
        f"= {queued}",
        len(finished) == len(runs) == queued,
    )
    result.add("8.ran", "update runs that ran", len(ran), "runs")
    result.add("8.skipped", 'update runs skipped, "already running"', len(skipped), "runs")
    refused = refused_by_other([run[1:4] for run in ran], [run[1:3] for run in skipped])
    result.add(
        "8.skipped_other",
        "… of which recorded while the other worker's run held the lock",
        refused,
        "runs",
    )
    failed = sum(1 for run in ran if run[0] == "failed")
    result.add("8.failed", "update runs that failed", failed, "runs", "0", failed == 0)
    result.add(
        "8.hosts",
        "worker hosts that took update tasks",
        len(hosts),
        "hosts",
        str(len(HOSTS)),
        hosts == set(HOSTS),
    )
    result.add(
        "8.overlaps", "pairs of update runs that overlapped", overlaps, "pairs", "0", overlaps == 0
    )
    result.add("8.deals", "deals stored", data["deals"], "deals")
    result.add(
        "8.duplicates",
        "deals stored more than once (stored minus distinct ASINs)",
        duplicates,
        "deals",
        "0",
        duplicates == 0,
    )
    statuses: dict[str, int] = {}
    for run in runs:
        statuses[run[0]] = statuses.get(run[0], 0) + 1
    durations = [(run[3] - run[2]).total_seconds() for run in ran if run[3] is not None]
    per_host = {host: sum(1 for run in ran if run[1] == host) for host in HOSTS}
    bursts = plan.bursts
    result.notes.append(
        f"Two `manage.py qcluster` processes ({', '.join(HOSTS)}: `DEALS_HOSTNAME`, one "
        "django-q2 worker each) on one Redis broker (`Q_BROKER_URL`, an empty Redis database "
        "claimed for the run and emptied after) and one PostgreSQL database made for the run "
        f"and dropped after; the simulator ({plan.products:,} products, busy market, real "
        "clock) as Keepa. Schedules off (`repeats = 0`): only what the scenario queues runs. "
        f"Both workers were up (a heartbeat each, waited up to {HEARTBEAT_WAIT_S} s) in "
        f"{data['up_s']:.0f} s; then {queued} update tasks were queued in {len(bursts)} bursts "
        f"of {bursts[0]}, {plan.gap_s:g} s apart, and the SyncRun rows read once all were "
        f"recorded and none `running` ({data['settle_s']:.0f} s after the first burst; bound "
        f"{plan.settle_s:.0f} s{'' if data['done'] else ', reached'}). Statuses: "
        + ", ".join(f"{n} {status}" for status, n in sorted(statuses.items()))
        + "; runs that ran, by host: "
        + ", ".join(f"{host} {n}" for host, n in per_host.items())
        + (
            f"; a run that ran took {median(durations):.2f} s at the median "
            f"({min(durations):.2f}-{max(durations):.2f} s)"
            if durations
            else ""
        )
        + ". Overlap: two runs that ran (any status but skipped) whose [started, finished] "
        "spans intersect; touching is not overlapping. Each cluster runs one task at a time, so "
        "a run skipped while the other host's run was going (`8.skipped_other`) is the lock "
        "refusing one worker while the other held it."
    )
