import os
import signal
import subprocess
import sys
import time

from spl_opt.backends.reaper import ray_descendants

DRIVER = """
import subprocess, sys, time
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "ray::FakeAgent"])
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "not-a-cluster-process"])
print("up", flush=True)
time.sleep(60)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_the_ray_processes_of_a_killed_driver_are_ended_and_nothing_else():
    driver = subprocess.Popen([sys.executable, "-c", DRIVER], stdout=subprocess.PIPE, text=True)
    assert driver.stdout.readline().strip() == "up"
    reaper = subprocess.Popen([sys.executable, "-m", "spl_opt.backends.reaper", str(driver.pid)])
    time.sleep(1.5)  # the reaper records the driver's Ray descendants
    ray_children = list(ray_descendants(driver.pid))
    others = [
        int(p)
        for p in os.listdir("/proc")
        if p.isdigit() and int(p) not in ray_children and _parent(int(p)) == driver.pid
    ]
    assert len(ray_children) == 1 and len(others) == 1
    os.kill(driver.pid, signal.SIGKILL)
    driver.wait()
    reaper.wait(timeout=10)
    assert not _alive(ray_children[0])
    assert _alive(others[0])
    os.kill(others[0], signal.SIGKILL)


def _parent(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError):
        return None
