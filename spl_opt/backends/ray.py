"""The Ray backend: task and editor calls run on Ray actors, on one machine or a cluster.

Each actor builds its Worker once from a picklable factory (a `WorkerSpec`: LM configuration, never an
LM client or a key), so a local model is loaded once per actor and API keys are read from each node's
own environment. A candidate's examples go to one actor (affinity), back to back, so a local model
reuses the KV cache of the shared system prompt. A call whose actor or node died fails with
`WorkerLost`; Ray restarts the actor (on another node if its node is gone) while the retry goes to
another actor.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import CancelledError, Future
from functools import partial
from typing import Any

from spl_opt.backends.local import ClosingBackend
from spl_opt.backends.reaper import start_reaper
from spl_opt.core.errors import WorkerLost
from spl_opt.core.protocols import Evidence
from spl_opt.core.records import Example, ExampleResult, Playbook, Proposal
from spl_opt.evaluators.worker import Worker


def machine_id() -> str:
    """This machine's boot id (unique per machine and boot), or its host name."""
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as f:
            return f.read().strip()
    except OSError:
        return socket.gethostname()


def _exit_with(driver: tuple[str, int] | None, period: float = 0.2) -> None:
    """End this process as soon as the driver `(machine_id, pid)` is gone, when it runs on this machine:
    an actor must not go on calling the LM for a dead run (Ray notices a killed driver only later)."""
    if driver is None or driver[0] != machine_id():
        return

    def watch() -> None:
        while True:
            try:
                os.kill(driver[1], 0)
            except ProcessLookupError:
                os._exit(0)
            except PermissionError:  # alive, owned by another user
                pass
            time.sleep(period)

    threading.Thread(target=watch, name="spl-opt-driver-watch", daemon=True).start()


class _Actor:
    """The remote side: one Worker, built when the actor starts (or restarts). It exits when its
    driver dies (on the driver's machine), also while it is still building its Worker."""

    def __init__(self, factory: Callable[[], Worker], driver: tuple[str, int] | None = None) -> None:
        _exit_with(driver)
        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no network fetch at import
        self.worker = factory()

    def ready(self) -> tuple[int, str]:
        import ray

        return os.getpid(), ray.get_runtime_context().get_node_id()

    def run(self, prompt: str, example: Example) -> ExampleResult:
        return self.worker.run(prompt, example)

    def run_many(self, prompt: str, examples: list[Example]) -> list[ExampleResult]:
        return self.worker.run_many(prompt, examples)

    def batch_size(self) -> int:
        return self.worker.batch_size

    def propose(self, operator: str, parent: Playbook, evidence: Evidence, n: int) -> Proposal:
        return self.worker.propose(operator, parent, evidence, n)


class RayBackend(ClosingBackend):
    """`workers` Ray actors, each running up to `concurrency` calls at once (1 for a local model).

    `address`: None starts a local Ray instance (stopped on close); "auto" or "HOST:PORT" joins a
    running cluster (left running). `start_seconds` is the time spent starting Ray and the actors
    (with their models). An actor that lost a call gets no new work until it answers a ping; when no
    actor is healthy, `submit` waits up to `revive_seconds` for one, then raises WorkerLost.
    """

    def __init__(
        self,
        factory: Callable[[], Worker],
        workers: int,
        *,
        concurrency: int = 1,
        address: str | None = None,
        cpus_per_worker: float = 1.0,
        max_restarts: int = 3,
        start_timeout: float = 600.0,
        revive_seconds: float = 60.0,
    ) -> None:
        import ray

        if workers < 1 or concurrency < 1:
            raise ValueError(f"workers and concurrency must be at least 1, got {workers} and {concurrency}")
        start = time.perf_counter()
        self._closed = False
        self._actors: list[Any] = []
        self._owns_ray = not ray.is_initialized()
        if self._owns_ray:
            if address not in (None, "auto") and not address.startswith("ray://"):
                check_reachable(address)
            ray.init(
                address=address, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR
            )
        self._reaper = start_reaper() if self._owns_ray and address is None else None
        try:
            needed = workers * cpus_per_worker
            total = ray.cluster_resources().get("CPU", 0.0)
            if needed > total:
                raise WorkerLost(
                    f"{workers} Ray workers × {cpus_per_worker:g} CPU need {needed:g} CPUs; the cluster has "
                    f"{total:g}: lower workers or cpus_per_worker, or add nodes"
                )
            actor_class = ray.remote(_Actor).options(
                max_concurrency=concurrency,
                max_restarts=max_restarts,
                max_task_retries=0,  # a lost call is retried (and recorded) by the evaluator
                num_cpus=cpus_per_worker,
                scheduling_strategy="SPREAD",
            )
            driver = (machine_id(), os.getpid())
            self._actors = [actor_class.remote(factory, driver) for _ in range(workers)]
            try:
                self.placement: list[tuple[int, str]] = ray.get(
                    [a.ready.remote() for a in self._actors], timeout=start_timeout
                )
            except ray.exceptions.GetTimeoutError:
                raise WorkerLost(
                    f"the Ray workers did not start within {start_timeout:g} s (building each worker's LM "
                    "included); is the cluster short of resources?"
                ) from None
            except ray.exceptions.RayError as exc:
                raise WorkerLost(f"the Ray workers could not start: {_short(exc)}") from exc
            self.batch_size = int(ray.get(self._actors[0].batch_size.remote(), timeout=start_timeout))
        except BaseException:
            self.close()
            raise
        self.start_seconds = time.perf_counter() - start
        self._lock = threading.Lock()
        self._load = [0] * workers
        self._suspect: dict[int, float] = {}  # actor -> when it last lost a call
        self._pinged: dict[int, float] = {}  # actor -> when it was last asked whether it is back
        self._affinity: dict[str, int] = {}
        self.revive_seconds = revive_seconds
        self.lost = 0

    # ----- routing -----------------------------------------------------------------------------------
    def _healthy(self) -> list[int]:
        with self._lock:
            return [i for i in range(len(self._actors)) if i not in self._suspect]

    def _pick(self, affinity: str | None) -> int:
        """The affinity's actor if it is healthy, else the least loaded healthy actor (waiting up to
        `revive_seconds` for one to come back when none is)."""
        deadline = time.monotonic() + self.revive_seconds
        while not (healthy := self._healthy()):
            if self._closed:
                raise CancelledError("the Ray backend was closed")
            if time.monotonic() > deadline:
                raise WorkerLost(f"no Ray worker answered for {self.revive_seconds:g} s")
            for index in list(self._suspect):
                self._ping(index)
            time.sleep(0.2)
        with self._lock:
            if affinity is not None and self._affinity.get(affinity) in healthy:
                return self._affinity[affinity]
            chosen = min(healthy, key=lambda i: self._load[i])
            if affinity is not None:
                self._affinity[affinity] = chosen
            return chosen

    def _call(self, index: int, method: str, *args: Any) -> Future[Any]:
        if self._closed:
            raise RuntimeError("RayBackend is closed")
        with self._lock:
            self._load[index] += 1
        ref = getattr(self._actors[index], method).remote(*args)
        out: Future[Any] = Future()
        ref.future().add_done_callback(partial(self._settle, index, out))
        return out

    def _settle(self, index: int, out: Future[Any], ray_future: Future[Any]) -> None:
        import ray

        with self._lock:
            self._load[index] -= 1
        exc = ray_future.exception()
        if exc is None:
            out.set_result(ray_future.result())
        elif self._closed:  # our own shutdown killed the call: not a lost worker, nothing to retry
            out.set_exception(CancelledError("the Ray backend was closed"))
        elif not isinstance(exc, Exception) or isinstance(exc, ray.exceptions.RayTaskError):
            out.set_exception(exc)  # an interrupt, or an error inside the call: not a lost worker
        else:
            with self._lock:
                self.lost += 1
                self._suspect[index] = time.monotonic()
                self._affinity = {k: v for k, v in self._affinity.items() if v != index}
            self._ping(index)
            out.set_exception(WorkerLost(f"Ray worker {index}: {_short(exc)}"))

    def _ping(self, index: int) -> None:
        """Ask a suspect actor whether it is back (Ray restarts it); at most once a second."""
        now = time.monotonic()
        with self._lock:
            if self._closed or now - self._pinged.get(index, -1.0) < 1.0:
                return
            self._pinged[index] = now

        def answered(f: Future[Any]) -> None:
            if f.exception() is None:
                with self._lock:
                    self._suspect.pop(index, None)

        self._actors[index].ready.remote().future().add_done_callback(answered)

    # ----- the Backend protocol ----------------------------------------------------------------------
    def submit(self, affinity: str, prompt: str, examples: Sequence[Example]) -> list[Future[ExampleResult]]:
        """One actor call per example, or per group of `batch_size` examples when the actors' program
        decodes batches; either way one future per example."""
        index = self._pick(affinity)
        if self.batch_size < 2:
            return [self._call(index, "run", prompt, example) for example in examples]
        futures: list[Future[ExampleResult]] = []
        for start in range(0, len(examples), self.batch_size):
            group = list(examples[start : start + self.batch_size])
            futures.extend(_fan_out(self._call(index, "run_many", prompt, group), len(group)))
        return futures

    def propose(self, operator: str, parent: Playbook, evidence: Evidence, n: int) -> Future[Proposal]:
        return self._call(self._pick(None), "propose", operator, parent, evidence, n)

    def actor_pids(self) -> list[int]:
        """The process id of every actor (for fault-injection tests and diagnostics)."""
        import ray

        return [pid for pid, _ in ray.get([a.ready.remote() for a in self._actors])]

    def close(self) -> None:
        """Kill the actors; stop Ray if this backend started it. Idempotent."""
        import ray

        if self._closed and not self._actors:
            return
        self._closed = True
        for actor in self._actors:
            with contextlib.suppress(Exception):  # already gone with its node
                ray.kill(actor, no_restart=True)
        self._actors = []
        if self._owns_ray:
            ray.shutdown()
        reaper, self._reaper = getattr(self, "_reaper", None), None
        if reaper is not None:
            reaper.terminate()  # it kills what the shutdown left (Ray's agents), then exits


def check_reachable(address: str, timeout: float = 5.0) -> None:
    """WorkerLost (one line) unless a TCP connection to the cluster's `HOST:PORT` opens within `timeout`
    (ray.init itself retries an unreachable address for minutes)."""
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout):
            return
    except ValueError:
        raise WorkerLost(f"the Ray address {address!r} is not HOST:PORT") from None
    except OSError as exc:
        raise WorkerLost(
            f"cannot reach the Ray cluster at {address} ({exc.strerror or exc}); is `ray start --head` "
            "running there, and is the port open?"
        ) from None


def _fan_out(whole: Future[list[ExampleResult]], n: int) -> list[Future[ExampleResult]]:
    """One future per item of a future list; an error of the whole fails each."""
    parts: list[Future[ExampleResult]] = [Future() for _ in range(n)]

    def settle(done: Future[list[ExampleResult]]) -> None:
        exc = done.exception()
        for i, part in enumerate(parts):
            if exc is not None:
                part.set_exception(exc)
            else:
                part.set_result(done.result()[i])

    whole.add_done_callback(settle)
    return parts


def _short(exc: BaseException, limit: int = 300) -> str:
    text = f"{type(exc).__name__}: {exc}".replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 3] + "..."
