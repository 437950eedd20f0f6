import json

import pytest
from pydantic import ValidationError

from spl_opt.lm.config import LMConfig, build_lm


def test_cache_key_ignores_threads_and_secrets_but_not_sampling():
    base = LMConfig(model="openai/gpt-4o-mini")
    assert base.cache_key() == base.model_copy(update={"n_threads": 3, "api_key_env": "K"}).cache_key()
    assert base.cache_key() != base.model_copy(update={"temperature": 0.5}).cache_key()


def test_api_key_is_read_from_the_environment_and_never_stored(monkeypatch):
    monkeypatch.setenv("MY_KEY", "sk-secret-123")
    config = LMConfig(model="openai/gpt-4o-mini", api_key_env="MY_KEY", api_base="http://127.0.0.1:9/v1")
    lm = build_lm(config)
    assert lm.model == "openai/gpt-4o-mini"
    assert "sk-secret-123" not in json.dumps(config.model_dump(mode="json"))


def test_invalid_values_are_rejected():
    with pytest.raises(ValidationError):
        LMConfig(temperature=5)
    with pytest.raises(ValidationError):
        LMConfig(max_tokens=0)
