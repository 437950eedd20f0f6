"""Ends the processes of a local Ray instance when the process that started it dies.

Ray 2.60's per-node agents (`ray::DashboardAgent`, `ray::RuntimeEnvAgent`) outlive a SIGKILLed
driver for good. `start_reaper()` launches this module beside the driver, in a session of its own:
while the driver lives it records the driver's Ray descendants (pid and start time); once the driver
is gone, or the reaper is told to stop (SIGTERM, on a normal close), it kills those still running.

    python -m spl_opt.backends.reaper DRIVER_PID
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path


def _stat(pid: int) -> tuple[int, int] | None:
    """(parent pid, start time) of `pid`, or None if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[1]), int(fields[19])


def _is_ray(pid: int) -> bool:
    try:
        return b"ray" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def ray_descendants(root: int) -> dict[int, int]:
    """The Ray processes below `root`: pid -> start time."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None:
            children.setdefault(stat[0], []).append(int(entry.name))
    found: dict[int, int] = {}
    todo = list(children.get(root, []))
    while todo:
        pid = todo.pop()
        stat = _stat(pid)
        if stat is not None and pid != os.getpid() and _is_ray(pid):
            found[pid] = stat[1]
        todo += children.get(pid, [])
    return found


def watch(driver: int, period: float = 0.5) -> None:
    known: dict[int, int] = {}
    stop = [False]
    signal.signal(signal.SIGTERM, lambda *_: stop.__setitem__(0, True))
    while not stop[0] and _stat(driver) is not None:
        known.update(ray_descendants(driver))
        time.sleep(period)
    for pid, started in known.items():
        stat = _stat(pid)
        if stat is not None and stat[1] == started:  # not a new process that reused the pid
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


def start_reaper() -> subprocess.Popen[bytes] | None:
    """Start the reaper for this process (Linux only; None elsewhere)."""
    if not Path("/proc/self/stat").exists():
        return None
    return subprocess.Popen(
        [sys.executable, "-m", "spl_opt.backends.reaper", str(os.getpid())],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # survives a kill of the driver's process group too
    )


if __name__ == "__main__":
    watch(int(sys.argv[1]))
