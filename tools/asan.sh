#!/usr/bin/env bash
# Build glrnet with AddressSanitizer and UndefinedBehaviorSanitizer into a scratch virtual
# environment and run the kernel tests under them, the sanitizer runtimes preloaded (the
# Python interpreter itself is not instrumented).
#
#   tools/asan.sh                  # venv in ${TMPDIR:-/tmp}/glrnet-asan, the kernel tests
#   tools/asan.sh -k pair          # extra arguments go to pytest
#   ASAN_VENV=DIR PYTHON=python3.12 tools/asan.sh
#
# Leak detection is off: the interpreter's own allocations would drown the report.  Any
# sanitizer error aborts the test process (halt_on_error), so a clean exit means none.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
venv=${ASAN_VENV:-${TMPDIR:-/tmp}/glrnet-asan}
python=${PYTHON:-python3}
cc=${CC:-gcc}

asan=$("$cc" -print-file-name=libasan.so)
ubsan=$("$cc" -print-file-name=libubsan.so)
for lib in "$asan" "$ubsan"; do
    [ -e "$lib" ] || { echo "asan.sh: $cc has no $(basename "$lib")" >&2; exit 2; }
done

[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
echo "asan.sh: building $root into $venv with -fsanitize=address,undefined"
CC="$cc" \
CFLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined -g" \
LDFLAGS="-fsanitize=address,undefined" \
    "$venv/bin/pip" install -q --force-reinstall --no-cache-dir "$root[test]"

so=$("$venv/bin/python" -c "import glrnet._glrcore as g; print(g.__file__)" 2>/dev/null) || true
if [ -z "$so" ] || ! nm -D "$so" | grep -q __asan_init; then
    # the import above runs without the runtime preloaded; find the module by name instead
    so=$(find "$venv" -name '_glrcore*.so' | head -n 1)
    nm -D "$so" | grep -q __asan_init || { echo "asan.sh: $so is not instrumented" >&2; exit 2; }
fi
echo "asan.sh: $so is instrumented"

if [ $# -eq 0 ]; then
    # the resident-memory test measures the process, which the sanitizers inflate
    set -- -k "not keep_the_work_space_bounded"
fi
cd "$(mktemp -d)"   # import the installed package, not the checkout
LD_PRELOAD="$asan $ubsan" \
ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:abort_on_error=1:verify_asan_link_order=0" \
UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
    "$venv/bin/python" -m pytest -q -p no:cacheprovider -p no:randomly \
    "$root/tests/test_kernel.py" "$root/tests/test_kernel_limits.py" "$root/tests/test_rng.py" "$@"
