import threading
import time

import pytest

from search.backends import SerialBackend, ThreadBackend
from spl_opt.core.protocols import Backend, Err, Ok


def sleep_then(seconds: float, value: int) -> int:
    time.sleep(seconds)
    return value


def square_or_fail(x: int) -> int:
    if x == 3:
        raise ValueError("three is bad")
    return x * x


@pytest.fixture(params=["serial", "thread"])
def backend(request):
    b: Backend = SerialBackend() if request.param == "serial" else ThreadBackend(max_workers=4)
    yield b
    b.close()


def test_results_in_order(backend):
    assert backend.map(lambda x: x * 10, list(range(20))) == [Ok(x * 10) for x in range(20)]
    assert backend.map(lambda x: x, []) == []


def test_exception_is_isolated(backend):
    results = backend.map(square_or_fail, [1, 2, 3, 4])
    assert results == [Ok(1), Ok(4), Err(error="ValueError: three is bad", kind="ValueError"), Ok(16)]


def test_keyboard_interrupt_propagates(backend):
    def interrupt(x: int) -> int:
        if x == 2:
            raise KeyboardInterrupt
        return x

    with pytest.raises(KeyboardInterrupt):
        backend.map(interrupt, [1, 2, 3])


def test_slow_items_keep_order_in_threads():
    with ThreadBackend(max_workers=4) as b:
        results = b.map(lambda x: sleep_then(0.05 * (4 - x), x), [0, 1, 2, 3])
    assert results == [Ok(0), Ok(1), Ok(2), Ok(3)]


def test_thread_backend_is_concurrent():
    with ThreadBackend(max_workers=8) as b:
        start = time.perf_counter()
        results = b.map(lambda x: sleep_then(0.2, x), list(range(8)))
        elapsed = time.perf_counter() - start
    assert results == [Ok(x) for x in range(8)]
    assert elapsed < 1.0  # serially this would take 1.6 s


def test_thread_pool_is_reused_across_calls():
    with ThreadBackend(max_workers=2) as b:
        names: set[str] = set()
        for _ in range(5):
            for r in b.map(lambda _: threading.current_thread().name, range(6)):
                assert isinstance(r, Ok)
                names.add(r.value)
    assert 1 <= len(names) <= 2
    assert all(name.startswith("spl-opt") for name in names)


def test_context_manager_closes():
    with ThreadBackend(max_workers=2) as b:
        assert b.map(str, [1]) == [Ok("1")]
    with pytest.raises(RuntimeError):
        b.map(str, [1])
    b.close()  # idempotent
    with SerialBackend() as s:
        assert s.map(str, [2]) == [Ok("2")]


def test_max_workers_must_be_positive():
    with pytest.raises(ValueError):
        ThreadBackend(max_workers=0)
