import hashlib
import sys

import pytest

from spl_opt.core.errors import LMError
from spl_opt.lm import models
from spl_opt.lm.models import EmbeddedModel, model_path


@pytest.fixture
def fake_model(tmp_path, monkeypatch):
    """A GGUF split into two 'PyPI packages' on sys.path, like the real chunked models."""
    chunks = [b"GGUF" + b"a" * 1000, b"b" * 777]
    for i, data in enumerate(chunks, 1):
        pkg = tmp_path / "site" / f"fakemodel_part{i}"
        (pkg / "data").mkdir(parents=True)
        (pkg / "__init__.py").write_text("")
        (pkg / "data" / f"part{i:02d}.bin").write_bytes(data)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.setenv("SPL_OPT_CACHE", str(tmp_path / "cache"))
    whole = b"".join(chunks)
    model = EmbeddedModel(
        name="fake",
        description="test",
        packages=("fakemodel_part1", "fakemodel_part2"),
        sha256=hashlib.sha256(whole).hexdigest(),
        size=len(whole),
    )
    monkeypatch.setitem(models.MODELS, "fake", model)
    yield model, whole
    for name in ("fakemodel_part1", "fakemodel_part2"):
        sys.modules.pop(name, None)


def test_chunks_are_assembled_once_and_checked(fake_model, tmp_path):
    _model, whole = fake_model
    path = model_path("fake")
    assert path.read_bytes() == whole and path.parent == tmp_path / "cache" / "models"
    mtime = path.stat().st_mtime_ns
    assert model_path("fake") == path and path.stat().st_mtime_ns == mtime  # not assembled again
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left


def test_checksum_mismatch_is_an_error_and_leaves_nothing(fake_model, tmp_path, monkeypatch):
    model, _ = fake_model
    monkeypatch.setitem(models.MODELS, "fake", model.__class__(**{**model.__dict__, "sha256": "0" * 64}))
    with pytest.raises(LMError, match="checksum mismatch"):
        model_path("fake")
    assert list((tmp_path / "cache" / "models").iterdir()) == []


def test_missing_package_and_unknown_model_are_clear_errors(monkeypatch):
    monkeypatch.setitem(
        models.MODELS,
        "ghost",
        EmbeddedModel(name="ghost", description="", packages=("no_such_pkg1",), sha256="0", size=1),
    )
    with pytest.raises(LMError, match="not installed"):
        model_path("ghost")
    with pytest.raises(LMError, match="unknown embedded model"):
        model_path("nope")
