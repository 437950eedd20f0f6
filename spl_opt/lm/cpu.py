"""Which llama.cpp CPU kernels may run here: the machine's CPU flags against what a build targets.

A portable llama-cpp-python build (`GGML_BACKEND_DL=ON GGML_CPU_ALL_VARIANTS=ON`) ships one CPU
backend per instruction-set level (`libggml-cpu-haswell.so`, `-icelake.so`, ...); each exports
`ggml_backend_score()`, 0 when this CPU lacks its instructions. We load the best-scoring variant
ourselves instead of letting ggml pick, so that known-bad variants can be left out:

- `sapphirerapids` is the only variant built with AMX. On Intel Xeons with AMX its AMX weight
  repack path (`ggml_backend_amx_mul_mat`) segfaults at the first decode (llama.cpp#20824; the same
  crash made ollama and DSPy's CI drop that variant). The next best variant (`zen4`/`cooperlake`/
  `icelake`) keeps every AVX-512 kernel, so only AMX is lost.

A monolithic build (one `libggml-cpu.so`, e.g. `GGML_NATIVE=ON` from pip's wheel cache) is checked
against this CPU's flags: instructions the CPU lacks are an error naming the reinstall command, and a
build with AMX runs with ggml's extra buffer types off (the AMX path lives only there).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from pathlib import Path

EXCLUDED_VARIANTS = frozenset({"sapphirerapids"})
VARIANT_ENV = "SPL_OPT_CPU_VARIANT"  # force a variant by name (e.g. "haswell"), for diagnosis
ALLOW_AMX_ENV = "SPL_OPT_ALLOW_AMX"  # "1" keeps the AMX variant and AMX repacking

REINSTALL_HINT = (
    "reinstall llama.cpp with run-time CPU dispatch: `bash install.sh` in a spl-opt checkout, or "
    '`CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_BACKEND_DL=ON -DGGML_CPU_ALL_VARIANTS=ON '
    '-DGGML_BACKEND_DIR:STRING=llama_cpp/lib" pip install --force-reinstall --no-cache-dir --no-deps '
    "llama-cpp-python==0.3.36`"
)

# ggml's feature names (as `llama_print_system_info` prints them) -> /proc/cpuinfo flags
FEATURE_FLAGS: dict[str, tuple[str, ...]] = {
    "SSE3": ("pni",),
    "SSSE3": ("ssse3",),
    "AVX": ("avx",),
    "AVX2": ("avx2",),
    "F16C": ("f16c",),
    "FMA": ("fma",),
    "BMI2": ("bmi2",),
    "AVX_VNNI": ("avx_vnni",),
    "AVX512": ("avx512f",),
    "AVX512_VBMI": ("avx512vbmi",),
    "AVX512_VNNI": ("avx512_vnni",),
    "AVX512_BF16": ("avx512_bf16",),
    "AMX_INT8": ("amx_int8",),
    "AMX_BF16": ("amx_bf16",),
}
AMX_FEATURES = frozenset({"AMX_INT8", "AMX_BF16"})


def cpu_flags(cpuinfo: str | None = None) -> frozenset[str]:
    """The CPU's feature flags from /proc/cpuinfo (or the given text); empty if unknown."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return frozenset()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            return frozenset(value.split())
    return frozenset()


def cpu_model(cpuinfo: str | None = None) -> str:
    """The CPU's model name from /proc/cpuinfo (or the given text), with its vendor's AVX-512 and AMX
    support, e.g. `AMD EPYC (avx2)`; "unknown" if unreadable."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return "unknown"
    name = next(
        (ln.split(":", 1)[1].strip() for ln in cpuinfo.splitlines() if ln.startswith("model name")), ""
    )
    flags = cpu_flags(cpuinfo)
    best = (
        "amx"
        if "amx_int8" in flags
        else "avx512"
        if "avx512f" in flags
        else "avx2"
        if "avx2" in flags
        else "no avx2"
    )
    return f"{name or 'unknown'} ({best})"


def compiled_features(system_info: str) -> frozenset[str]:
    """Features a build reports as on (`AVX2 = 1 | FMA = 1 | ...` from `llama_print_system_info`)."""
    return frozenset(m.group(1) for m in re.finditer(r"([A-Z0-9_]+) = 1\b", system_info))


def missing_features(features: Iterable[str], flags: frozenset[str]) -> list[str]:
    """The instruction-set features a build uses that this CPU lacks (unknown flags count as present)."""
    if not flags:
        return []
    return sorted(f for f in features if f in FEATURE_FLAGS and not set(FEATURE_FLAGS[f]) <= flags)


def amx_allowed() -> bool:
    return os.environ.get(ALLOW_AMX_ENV, "") == "1"


def variant_name(path: Path) -> str:
    """`libggml-cpu-haswell.so` -> `haswell`."""
    return path.name.split(".so")[0].removeprefix("libggml-cpu-")


def variant_files(lib_dir: Path) -> list[Path]:
    """The CPU backend variants of a portable build, sorted by name; [] for a monolithic build."""
    return sorted(p for p in lib_dir.glob("libggml-cpu-*.so*") if not p.is_symlink() or p.exists())


def choose_variant(
    candidates: Iterable[Path], score: Callable[[Path], int], *, forced: str = "", allow_amx: bool = False
) -> tuple[Path, dict[str, int]]:
    """The variant to load: `forced` if named, else the best-scoring one this CPU supports, leaving out
    EXCLUDED_VARIANTS unless `allow_amx`. Returns it with every variant's score; raises RuntimeError
    with a one-line reason if none fits."""
    paths = {variant_name(p): p for p in candidates}
    if forced:
        if forced not in paths:
            raise RuntimeError(
                f"{VARIANT_ENV}={forced}: no such CPU variant (have: {', '.join(sorted(paths))})"
            )
        return paths[forced], {}
    scores = {name: score(path) for name, path in sorted(paths.items())}
    usable = {n: s for n, s in scores.items() if s > 0 and (allow_amx or n not in EXCLUDED_VARIANTS)}
    if not usable:
        raise RuntimeError(f"no llama.cpp CPU variant runs on this CPU (scores: {scores})")
    best = max(usable, key=lambda n: (usable[n], n))
    return paths[best], scores
