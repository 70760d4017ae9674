"""`make run` end to end: scripts/run.sh starts the simulator, the worker and the web server,
and one Ctrl-C stops them all within seconds, exiting 0 (make prints no "Error 130"); the
worker drops a task it cannot finish in time; `make clean-db` leaves no test database behind.

Real processes on 127.0.0.1 only, on free ports, with their own SQLite file; every process
group started here is killed at the end whatever happens.
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent
STOP_WITHIN_S = 10  # the worker's grace (3 s) inside honcho's 5 s, with room for a busy CI box

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def app_env(tmp_path: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "KEEPA_", "DEALS_BASE_URL"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="dealsite.settings",
        DATABASE_URL=f"sqlite:///{tmp_path / 'run.sqlite3'}",
        DEALS_PORT=str(free_port()),
        KEEPA_SIMULATOR_PORT=str(free_port()),
        PYTHONUNBUFFERED="1",
    )
    return env


class Output:
    """A process's output, read on a thread, to wait for a line without blocking."""

    def __init__(self, process: subprocess.Popen) -> None:
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(process,), daemon=True)
        self._thread.start()

    def _read(self, process: subprocess.Popen) -> None:
        for line in process.stdout:
            self.lines.append(line)

    @property
    def text(self) -> str:
        return "".join(self.lines)

    def wait_for(self, needle: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while needle not in self.text:
            assert time.monotonic() < deadline, f"no {needle!r} in:\n{self.text[-3000:]}"
            time.sleep(0.2)


@contextlib.contextmanager
def started(command: list[str], env: dict[str, str]) -> Iterator[subprocess.Popen]:
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # like a terminal's foreground job: one group to signal
    )
    try:
        yield process
    finally:
        # Whatever is left, in whichever process group (the worker's cluster has its own).
        ours = os.getpgid(0)
        for pid in [process.pid, *_children(process.pid)]:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                group = os.getpgid(pid)
                if group != ours:
                    os.killpg(group, signal.SIGKILL)
        process.wait(timeout=10)


def command_lines() -> list[str]:
    """Every running process's command line (from /proc)."""
    lines = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                lines.append((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode())
    return lines


def group_members(pgids: set[int]) -> list[str]:
    """Processes still alive in these process groups (from /proc)."""
    alive = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if os.getpgid(int(entry.name)) in pgids:
                alive.append((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode())
    return alive


def test_a_stop_without_a_terminal_ends_everything_within_seconds_and_exits_0(tmp_path):
    env = app_env(tmp_path)
    with started(["scripts/run.sh"], env) as run:
        out = Output(run)
        out.wait_for("Open http://127.0.0.1:", timeout=120)
        out.wait_for("[deals] running.", timeout=60)  # the worker's cluster is up
        web = f"http://127.0.0.1:{env['DEALS_PORT']}"
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(requests.ConnectionError):
                if requests.get(f"{web}/login/", timeout=5).status_code == 200:
                    break
            assert time.monotonic() < deadline, out.text[-3000:]
            time.sleep(0.5)
        # Polls and static files are not logged; a page load is, once.
        for _ in range(3):
            requests.get(f"{web}/live?cursor=0", timeout=5, allow_redirects=False)
            requests.get(f"{web}/static/css/site.css", timeout=5)
        requests.get(f"{web}/favicon.ico", timeout=5, allow_redirects=False)
        time.sleep(1)
        assert "GET /live" not in out.text and "GET /static/" not in out.text
        assert "GET /login/ HTTP/1.1" in out.text
        # Alert messages link to the dashboard on the port it was started on.
        assert f"DEALS_BASE_URL={web}".encode() in _environ_of(run.pid)
        groups = {os.getpgid(int(p)) for p in _children(run.pid)} | {run.pid}

        stopped_at = time.monotonic()
        os.kill(run.pid, signal.SIGINT)  # as a supervisor or a script would stop it
        status = run.wait(timeout=30)
        took = time.monotonic() - stopped_at

    assert status == 0, out.text[-3000:]
    assert took < STOP_WITHIN_S, f"took {took:.1f} s"
    assert "SIGKILL" not in out.text  # nothing had to be killed
    assert "Stopped." in out.text
    assert group_members(groups) == []


def _environ_of(pid: int) -> list[bytes]:
    """The environment entries of `pid`'s descendants (from /proc)."""
    entries: list[bytes] = []
    for child in _children(pid):
        with contextlib.suppress(OSError):
            entries += Path(f"/proc/{child}/environ").read_bytes().split(b"\0")
    return entries


def _children(pid: int) -> list[int]:
    """Every descendant of `pid` (from /proc)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def test_ctrl_c_at_a_terminal_stops_make_run_without_an_error(tmp_path):
    """The way a person stops `make run`: Ctrl-C typed at the terminal, where make sees it too.
    (A Makefile of its own runs the script: the project's would first install into .venv.)"""
    (tmp_path / "Makefile").write_text(f"run:\n\t{ROOT / 'scripts' / 'run.sh'}\n")
    env = app_env(tmp_path) | {"TERM": "dumb"}
    pid, terminal = os.forkpty()
    if pid == 0:  # the child: make in a new session whose terminal is the pty
        try:
            os.chdir(tmp_path)
            os.execvpe("make", ["make", "run"], env)
        finally:
            os._exit(127)
    screen = bytearray()
    descendants: list[int] = []
    try:

        def read_until(needle: bytes, timeout: float) -> None:
            deadline = time.monotonic() + timeout
            while needle not in screen:
                assert time.monotonic() < deadline, screen.decode(errors="replace")[-3000:]
                ready, _, _ = select.select([terminal], [], [], 0.2)
                if ready:
                    with contextlib.suppress(OSError):
                        screen.extend(os.read(terminal, 65536))

        read_until(b"[deals] running.", timeout=120)
        descendants = _children(pid)
        stopped_at = time.monotonic()
        os.write(terminal, b"\x03")  # Ctrl-C
        read_until(b"Stopped.", timeout=30)
        _, status = os.waitpid(pid, 0)
        took = time.monotonic() - stopped_at
        with contextlib.suppress(OSError):
            screen.extend(os.read(terminal, 65536))
    finally:
        ours = os.getpgid(0)
        for child in [pid, *descendants, *_children(pid)]:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                group = os.getpgid(child)
                if group != ours:
                    os.killpg(group, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
        os.close(terminal)

    text = screen.decode(errors="replace")
    assert os.waitstatus_to_exitcode(status) == 0, text[-3000:]
    assert "Error" not in text and "Interrupt" not in text
    assert took < STOP_WITHIN_S, f"took {took:.1f} s"
    assert [c for c in descendants if Path(f"/proc/{c}").exists()] == []


def test_a_stopped_worker_abandons_a_long_task_within_seconds(tmp_path):
    env = app_env(tmp_path) | {"DJANGO_DEBUG": "true"}
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "--verbosity", "0"], cwd=ROOT, env=env, check=True)
    # A task far longer than the grace (a full sweep on a big account can run for minutes)
    # that says when it has started.
    started_file = tmp_path / "task-started"
    enqueue = (
        "from django_q.tasks import async_task; "
        f"async_task('subprocess.run', ['sh', '-c', 'touch {started_file}; sleep 120'])"
    )
    subprocess.run([*manage, "shell", "-c", enqueue], cwd=ROOT, env=env, check=True)

    with started([sys.executable, "scripts/worker.py"], env) as worker:
        out = Output(worker)
        deadline = time.monotonic() + 60
        while not started_file.exists():
            assert time.monotonic() < deadline, out.text[-3000:]
            time.sleep(0.2)
        stopped_at = time.monotonic()
        os.kill(worker.pid, signal.SIGTERM)  # what honcho sends on Ctrl-C
        status = worker.wait(timeout=30)
        took = time.monotonic() - stopped_at

    assert status == 0
    assert took < 5, f"took {took:.1f} s"  # inside honcho's 5 s before SIGKILL
    assert "its task is abandoned" in out.text
    assert not [cmd for cmd in command_lines() if str(started_file) in cmd]  # the task is gone


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_clean_db_removes_test_databases_and_their_wal_files(tmp_path):
    var = tmp_path / "var"
    var.mkdir()
    names = ["db.sqlite3", "db.sqlite3-wal", "test_db_123.sqlite3", "test_db_123.sqlite3-wal"]
    names += ["test_db_123.sqlite3-shm", "demo-login.txt"]
    for name in names:
        (var / name).write_text("x")

    subprocess.run(
        [
            "make",
            "--no-print-directory",
            "-C",
            str(tmp_path),
            "-f",
            str(ROOT / "Makefile"),
            "clean-db",
        ],
        check=True,
        capture_output=True,
    )

    assert sorted(p.name for p in var.iterdir()) == ["demo-login.txt"]
