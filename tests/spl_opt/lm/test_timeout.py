import time

from spl_opt.core.records import Example
from spl_opt.evaluators.worker import Worker
from spl_opt.lm.config import LMConfig, build_lm
from spl_opt.programs import ChatProgram
from spl_opt.testing import FakeChatServer


def test_a_hung_server_costs_at_most_the_timeout(monkeypatch):
    monkeypatch.setenv("SPL_TEST_KEY", "sk-test")
    with FakeChatServer(fault_rate=1.0, fault_kinds=("stall",), stall=20.0) as server:
        config = LMConfig(
            model="openai/gpt-4o-mini", api_base=server.base_url, api_key_env="SPL_TEST_KEY", timeout=1.0
        )
        worker = Worker(ChatProgram(build_lm(config)), lambda example, output: (1.0, "ok"), backoff=0.0)
        start = time.monotonic()
        result = worker.run("Answer.", Example(id="e", inputs={"q": "1 + 1"}, target="2"))
        elapsed = time.monotonic() - start
    assert result.outcome == "error" and "Timeout" in (result.error or "")
    assert server.requests == 1, result.error  # a timeout is not retried
    assert elapsed < 5.0  # the server would have stalled for 20 s
