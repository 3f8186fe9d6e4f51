#!/usr/bin/env bash
# test.sh: installs what is missing, builds gradc with warnings as errors and runs every test.
#
#   scripts/test.sh              build/ (or $BUILD_DIR), RelWithDebInfo
#   scripts/test.sh --sanitize   build-sanitize/ (or $BUILD_DIR), AddressSanitizer + UBSan
#
# Exits with ctest's status, after ctest's summary line ("100% tests passed, 0 tests failed out
# of N") and the list of failed tests, if any.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

sanitize=OFF
default_dir=build
for arg in "$@"; do
    case "$arg" in
    --sanitize)
        sanitize=ON
        default_dir=build-sanitize
        ;;
    -h | --help)
        sed -n '2,8s/^# \{0,1\}//p' "$0"
        exit 0
        ;;
    *)
        echo "test.sh: unknown argument '$arg' (try --help)" >&2
        exit 1
        ;;
    esac
done
build_dir=${BUILD_DIR:-$default_dir}

scripts/setup.sh

jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B "$build_dir" -DGC_WERROR=ON -DGC_SANITIZE="$sanitize" >/dev/null
cmake --build "$build_dir" -j"$jobs"

cd "$build_dir"
status=0
ctest --output-on-failure -j2 || status=$?
exit "$status"
