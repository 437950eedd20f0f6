#!/usr/bin/env bash
# Install spl-opt (editable) with a portable llama.cpp engine:  bash install.sh [EXTRAS]   e.g. editor,dev
#
# llama-cpp-python ships only as source. Built by pip with its defaults (GGML_NATIVE=ON) it targets
# the CPU it was built on, and pip's wheel cache hands that wheel to any later install whatever
# CMAKE_ARGS say. So the engine is built here, once per machine, with run-time CPU dispatch (one
# CPU backend per instruction-set level, the best one chosen when the model loads), into a wheel
# directory named after the exact build settings, and installed from there. The editable install
# that follows finds llama-cpp-python already satisfied and never builds it again.
set -euo pipefail
cd "$(dirname "$0")"

extras="${1:-}"
python="${PYTHON:-python}"
version="0.3.36"
cmake_args="-DLLAVA_BUILD=OFF -DGGML_NATIVE=OFF -DGGML_BACKEND_DL=ON -DGGML_CPU_ALL_VARIANTS=ON -DGGML_BACKEND_DIR:STRING=llama_cpp/lib"
key=$(printf '%s|%s|%s' "$version" "$cmake_args" "$(uname -m)" | sha256sum | cut -c1-12)
wheels="${SPL_OPT_CACHE:-$HOME/.cache/spl-opt}/wheels/llama-cpp-python-$version-$key"

portable_engine_installed() {
  "$python" - "$version" <<'PY'
import importlib.util, sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
try:
    ok = version("llama_cpp_python") == sys.argv[1]
except PackageNotFoundError:
    ok = False
spec = importlib.util.find_spec("llama_cpp")
ok = ok and spec is not None and any((Path(spec.origin).parent / "lib").glob("libggml-cpu-haswell.so*"))
sys.exit(0 if ok else 1)
PY
}

if ! portable_engine_installed; then
  if ! compgen -G "$wheels/llama_cpp_python-$version-*.whl" >/dev/null; then
    echo "install.sh: building llama-cpp-python $version with run-time CPU dispatch (once per machine;"
    echo "            about 20 minutes on 2 cores; the wheel is kept in $wheels)"
    rm -rf "$wheels.tmp"
    CMAKE_ARGS="$cmake_args" CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" \
      "$python" -m pip wheel --no-deps --no-cache-dir "llama-cpp-python==$version" -w "$wheels.tmp"
    rm -rf "$wheels"
    mv "$wheels.tmp" "$wheels"
  fi
  "$python" -m pip install --force-reinstall --no-deps "$wheels"/llama_cpp_python-"$version"-*.whl
fi
"$python" -m pip install -e ".${extras:+[$extras]}"
