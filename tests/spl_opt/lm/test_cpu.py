from pathlib import Path

import pytest

from spl_opt.lm import cpu

XEON_AMX = (
    "flags\t\t: fpu sse ssse3 pni avx avx2 fma f16c bmi2 avx512f avx512vbmi avx512_vnni avx512_bf16 "
    "amx_tile amx_int8 amx_bf16\n"
)
EPYC_AVX2 = "processor : 0\nflags : fpu pni ssse3 avx avx2 fma f16c bmi2\n"
SCORES = {  # illustrative ggml_backend_score() values on an AMX Xeon: more features, higher; 0 = unsupported
    "x64": 1,
    "haswell": 60,
    "skylakex": 124,
    "icelake": 250,
    "cooperlake": 190,
    "zen4": 380,
    "alderlake": 0,
    "sapphirerapids": 2000,
}


def variants(names):
    return [Path(f"/lib/libggml-cpu-{n}.so") for n in names]


def test_cpu_flags_are_read_from_cpuinfo():
    assert {"avx2", "amx_int8"} <= cpu.cpu_flags(XEON_AMX)
    assert cpu.cpu_flags("no flags here") == frozenset()


def test_compiled_features_and_what_the_cpu_lacks():
    info = "CPU : SSE3 = 1 | AVX = 1 | AVX2 = 1 | AVX512 = 1 | AMX_INT8 = 1 | LLAMAFILE = 1 | OPENMP = 0 |"
    features = cpu.compiled_features(info)
    assert features == {"SSE3", "AVX", "AVX2", "AVX512", "AMX_INT8", "LLAMAFILE"}
    assert cpu.missing_features(features, cpu.cpu_flags(EPYC_AVX2)) == ["AMX_INT8", "AVX512"]
    assert cpu.missing_features(features, cpu.cpu_flags(XEON_AMX)) == []
    assert cpu.missing_features(features, frozenset()) == []  # unknown CPU: no verdict


def test_the_amx_variant_is_left_out_and_avx512_kept():
    chosen, scores = cpu.choose_variant(variants(SCORES), lambda p: SCORES[cpu.variant_name(p)])
    assert cpu.variant_name(chosen) == "zen4" and scores["sapphirerapids"] == 2000
    allowed, _ = cpu.choose_variant(variants(SCORES), lambda p: SCORES[cpu.variant_name(p)], allow_amx=True)
    assert cpu.variant_name(allowed) == "sapphirerapids"


def test_an_avx2_machine_gets_haswell():
    avx2 = {"x64": 1, "haswell": 60, "zen4": 0, "sapphirerapids": 0}
    chosen, _ = cpu.choose_variant(variants(avx2), lambda p: avx2[cpu.variant_name(p)])
    assert cpu.variant_name(chosen) == "haswell"


def test_forced_and_impossible_choices():
    chosen, _ = cpu.choose_variant(variants(SCORES), lambda p: 0, forced="haswell")
    assert cpu.variant_name(chosen) == "haswell"
    with pytest.raises(RuntimeError, match="no such CPU variant"):
        cpu.choose_variant(variants(SCORES), lambda p: 0, forced="pentium")
    with pytest.raises(RuntimeError, match=r"no llama\.cpp CPU variant runs on this CPU"):
        cpu.choose_variant(variants(["sapphirerapids"]), lambda p: 10)


def test_variant_files_of_a_portable_build(tmp_path):
    for name in ("libggml-cpu-haswell.so", "libggml-cpu-zen4.so", "libggml-base.so", "libllama.so"):
        (tmp_path / name).write_bytes(b"")
    assert [cpu.variant_name(p) for p in cpu.variant_files(tmp_path)] == ["haswell", "zen4"]


def test_cpu_model_names_the_best_vector_extension():
    assert cpu.cpu_model("model name\t: Intel Xeon\n" + XEON_AMX) == "Intel Xeon (amx)"
    assert cpu.cpu_model("model name : AMD EPYC\n" + EPYC_AVX2) == "AMD EPYC (avx2)"
    assert cpu.cpu_model("") == "unknown (no avx2)"
