import dspy
import pytest
from dspy.lm15 import Config, Message, Request

from spl_opt.core.errors import LMError
from spl_opt.lm import llama_engine
from spl_opt.lm.llama_engine import LlamaEngine


class FakeProcess:
    """Stands in for the model process: records what the engine sends."""

    def __init__(self):
        self.calls = []

    def start(self):
        return {"variant": "fake"}

    def request(self, op, **payload):
        self.calls.append({"op": op, **payload})
        if op == "tokens":
            return len(payload["text"].split())
        one = {"text": "Answer: 4", "finish_reason": "stop", "input_tokens": 12, "output_tokens": 3}
        return [one for _ in payload["users"]] if op == "batch" else one


@pytest.fixture
def fake(monkeypatch, tmp_path):
    process = FakeProcess()
    monkeypatch.setattr(llama_engine, "shared_process", lambda spec: process)
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    return process, str(gguf)


def test_request_is_translated_to_a_chat_completion(fake):
    llama, path = fake
    lm = dspy.LM("embedded/m", engine=LlamaEngine(path), cache=False)
    response = lm(
        Request(
            model=lm.model,
            system="Be exact.",
            messages=(Message.user("2+2?"),),
            config=Config(temperature=0.0, max_tokens=7),
        )
    )
    assert (
        response.text == "Answer: 4"
        and response.usage.input_tokens == 12
        and response.usage.output_tokens == 3
    )
    sent = llama.calls[0]
    assert sent["op"] == "chat" and sent["messages"] == [
        {"role": "system", "content": "Be exact."},
        {"role": "user", "content": "2+2?"},
    ]
    assert sent["temperature"] == 0.0 and sent["max_tokens"] == 7 and sent["reset"] is False


def test_prefix_cache_off_resets_before_each_call_and_tokens_are_counted(fake):
    llama, path = fake
    engine = LlamaEngine(path, prefix_cache=False)
    lm = dspy.LM("embedded/m", engine=engine, cache=False)
    for _ in range(2):
        lm(Request(model=lm.model, messages=(Message.user("hi"),), config=Config(max_tokens=4)))
    assert [c["reset"] for c in llama.calls] == [True, True]
    assert engine.count_tokens("a b c") == 3
    assert LlamaEngine.load_state(engine.dump_state()) == LlamaEngine(path, prefix_cache=False)


def test_sampling_calls_get_fresh_seeds(fake):
    llama, path = fake
    lm = dspy.LM("embedded/m", engine=LlamaEngine(path), cache=False)
    for _ in range(2):
        lm(
            Request(
                model=lm.model, messages=(Message.user("hi"),), config=Config(temperature=0.7, max_tokens=4)
            )
        )
    assert llama.calls[0]["seed"] != llama.calls[1]["seed"]


def test_missing_gguf_is_an_lm_error(tmp_path):
    with pytest.raises(LMError, match="GGUF file not found"):
        LlamaEngine(str(tmp_path / "none.gguf")).load()


def test_batches_go_to_the_process_in_one_request(fake):
    process, path = fake
    engine = LlamaEngine(path)
    outs = engine.complete_batch("Be exact.", ["1+1?", "2+2?"], max_tokens=9)
    assert [o["text"] for o in outs] == ["Answer: 4", "Answer: 4"]
    assert process.calls == [
        {"op": "batch", "system": "Be exact.", "users": ["1+1?", "2+2?"], "max_tokens": 9, "stop": []}
    ]
