#!/usr/bin/env bash
# Build the C++ extension with -Wall -Wextra -Werror under AddressSanitizer and UndefinedBehavior-
# Sanitizer in a separate virtual environment and run the test suite against it; then run the C++
# test of the levels of the aggregation multigrid under the same sanitizers, the C++ test of the
# DCT's work buffers, and the C++ test of the thread team (the DCT, the trajectory kernel, the
# osmosis solvers and batches) under ThreadSanitizer.
# Usage: bash tools/sanitize.sh [pytest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv-sanitize
source .venv-sanitize/bin/activate
python -m pip install --upgrade pip >/dev/null
python -m pip install -e ".[test]" \
  -Ccmake.define.PYSCALE_SANITIZE=ON -Ccmake.define.PYSCALE_WERROR=ON -Cbuild-dir=build/sanitize
# the interpreter is not instrumented, so the runtime must be loaded first; Python's own
# allocations are not leak-checked
export LD_PRELOAD="$(g++ -print-file-name=libasan.so):$(g++ -print-file-name=libubsan.so)"
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:allocator_may_return_null=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
export PYSCALE_SANITIZED=1
python -m pytest -q -p no:cacheprovider tests "$@"
# The levels of the aggregation multigrid against references in double: a standalone C++ test.
mkdir -p build/tsan build/cpp
g++ -std=c++17 -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=undefined -Wall -Wextra \
  -Werror -Icsrc tests/cpp/aggregation_levels.cpp -o build/cpp/aggregation_levels
env -u LD_PRELOAD build/cpp/aggregation_levels
# The DCT kernels read no value of their uninitialised work buffers before writing it: a plain
# build (the check is in the test itself; the DCT takes minutes to compile under the sanitizers).
g++ -std=c++17 -O1 -Wall -Wextra -Werror -Icsrc tests/cpp/dct_workspace.cpp \
  -o build/cpp/dct_workspace -pthread
env -u LD_PRELOAD build/cpp/dct_workspace
# The thread team under ThreadSanitizer: a standalone C++ test, since the interpreter is not
# instrumented for it.
g++ -std=c++17 -O1 -g -fsanitize=thread -Wall -Wextra -Werror -Icsrc tests/cpp/team_threads.cpp \
  -o build/tsan/team_threads -pthread
env -u LD_PRELOAD TSAN_OPTIONS="halt_on_error=1" build/tsan/team_threads
