"""Guards of the Ray backend that need no cluster: an unreachable address, a dead driver."""

import os
import subprocess
import sys
import time

import pytest

from spl_opt.backends.ray import check_reachable, machine_id
from spl_opt.core.errors import WorkerLost


def test_an_unreachable_cluster_is_one_line_within_seconds():
    start = time.monotonic()
    with pytest.raises(
        WorkerLost, match=r"cannot reach the Ray cluster at 127\.0\.0\.1:1 .*ray start --head"
    ):
        check_reachable("127.0.0.1:1")
    assert time.monotonic() - start < 6
    with pytest.raises(WorkerLost, match="not HOST:PORT"):
        check_reachable("127.0.0.1:port")


def test_an_actor_exits_as_soon_as_its_driver_on_this_machine_is_gone():
    driver = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    watcher = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from spl_opt.backends.ray import _exit_with; "
            f"_exit_with(({machine_id()!r}, {driver.pid}), period=0.05); time.sleep(60); sys.exit(7)",
        ],
        cwd=os.getcwd(),
    )
    time.sleep(1.0)
    assert watcher.poll() is None  # the driver lives: the actor goes on
    driver.kill()
    driver.wait()
    start = time.monotonic()
    assert watcher.wait(timeout=10) == 0 and time.monotonic() - start < 2
