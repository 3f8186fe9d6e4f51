# checks.sh: what the tests/scripts/test_*.sh scripts share (POSIX sh), sourced first thing:
#     . "$(dirname "$0")/lib/checks.sh"
#     script_args "$@"      # $gradc, $src, $py from GRADC SOURCE_DIR PYTHON (ctest passes these)
#     make_tmp              # $tmp: a fresh directory, removed when the script exits
# and then, for the checks:
#     pass NAME, fail NAME  print `PASS: NAME` / `FAIL: NAME` and count it; fail shows the first
#                           20 lines of $tmp/out and $tmp/err (set fail_show to another filter,
#                           such as "tail -20", or to nothing to show neither)
#     check NAME CMD...     passes when CMD exits 0 (its stdout in $tmp/out, stderr in $tmp/err)
#     expect NAME STATUS REGEX CMD...
#                           passes when CMD exits with STATUS and its stdout or stderr has a line
#                           matching REGEX (ERE); its stdout stays in $tmp/last too, for checks of
#                           the output (which overwrite out)
#     finish                prints `N passed, M failed` and exits 1 if any check failed, else 0
#     usage                 the usage line on stderr, exit 2 (for a script's own argument check)
#     rows FILE             the number of lines of FILE, 0 while it is not there
#     skip_without_onnx     exit 77 (ctest: skipped) when $gradc was built without ONNX import
# A script needing other behaviour defines its own function after sourcing this file.

passed=0
failed=0
fail_show="head -20"

usage() {
    echo "usage: $0 GRADC SOURCE_DIR PYTHON" >&2
    exit 2
}

# script_args "$@": exactly three arguments, GRADC a program and SOURCE_DIR a folder, or usage.
script_args() {
    gradc=$1
    src=$2
    py=$3
    if [ $# -ne 3 ] || [ ! -x "$gradc" ] || [ ! -d "$src" ]; then
        usage
    fi
}

# make_tmp: $tmp, named for the script, removed on exit and on SIGINT/SIGTERM.
make_tmp() {
    tmp=$(mktemp -d "${TMPDIR:-/tmp}/gc_$(basename "$0" .sh | sed 's/^test_//').XXXXXX") || exit 2
    trap 'rm -rf "$tmp"' EXIT INT TERM
}

pass() {
    passed=$((passed + 1))
    echo "PASS: $1"
}

fail() {
    failed=$((failed + 1))
    echo "FAIL: $1"
    [ -n "$fail_show" ] || return 0
    for fail_file in "$tmp/out" "$tmp/err"; do
        [ -s "$fail_file" ] && sed 's/^/    | /' "$fail_file" | $fail_show
    done
    return 0
}

# check and expect keep their arguments in variables of their own: CMD may be a script's function
# that sets name, want or got.
check() {
    check_name=$1
    shift
    if "$@" >"$tmp/out" 2>"$tmp/err" </dev/null; then pass "$check_name"; else fail "$check_name"; fi
}

expect() {
    expect_name=$1 expect_status=$2 expect_regex=$3
    shift 3
    "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
    expect_got=$?
    cp "$tmp/out" "$tmp/last"
    if [ "$expect_got" -eq "$expect_status" ] && cat "$tmp/out" "$tmp/err" | grep -Eq -- "$expect_regex"; then
        pass "$expect_name"
    else
        echo "    (exit $expect_got, wanted $expect_status and /$expect_regex/)"
        fail "$expect_name"
    fi
}

finish() {
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ]
    exit $?
}

rows() {
    if [ -f "$1" ]; then wc -l <"$1"; else echo 0; fi
}

skip_without_onnx() {
    if "$gradc" import /dev/null 2>&1 | grep -q "built without protobuf-c"; then
        echo "skip: gradc was built without ONNX support"
        exit 77
    fi
}
