#!/bin/sh
# run.sh: a tiny lit. Runs the `# RUN:` lines of one golden test file (.ir or .gm).
#
#   sh run.sh TEST GRADC FILECHECK
#
# In a RUN line, %s is the test file, %t a scratch path (%t.1, %t.out ... are fine), `gradc` and
# `FileCheck` are the binaries given here, and `not CMD` succeeds when CMD fails without crashing
# (exit status 1..127), as LLVM's `not`. A line ending in `\` continues on the next RUN line.
# Each line runs under `set -e` and, with bash, `pipefail`, so every stage of a pipeline counts
# (`not gradc opt %s 2>&1 | FileCheck %s` fails if gradc succeeds or if FileCheck fails).
# The test fails if any RUN line fails, or if it has none.

if [ $# -ne 3 ]; then
    echo "usage: sh run.sh TEST GRADC FILECHECK" >&2
    exit 2
fi
test_file=$1
if [ ! -f "$test_file" ]; then
    echo "run.sh: no such test file: $test_file" >&2
    exit 2
fi

GC_RUN_S=$test_file
GC_RUN_GRADC=$2
GC_RUN_FILECHECK=$3
scratch=$(mktemp -d "${TMPDIR:-/tmp}/gc-filecheck.XXXXXX") || exit 2
trap 'rm -rf "$scratch"' EXIT
GC_RUN_T=$scratch/t
export GC_RUN_S GC_RUN_T GC_RUN_GRADC GC_RUN_FILECHECK

# Without bash there is no pipefail; the RUN lines still run, checking only each pipeline's end.
if command -v bash >/dev/null 2>&1; then
    shell="bash -e -o pipefail -c"
else
    shell="sh -e -c"
fi

prelude='gradc() { "$GC_RUN_GRADC" "$@"; }
FileCheck() { "$GC_RUN_FILECHECK" "$@"; }
not() { "$@" && return 1; status=$?; [ "$status" -lt 128 ]; }
'

# One command per line: RUN payloads with continuations joined, %s/%t turned into quoted variable
# references (so paths with spaces survive) and expanded by the shell that runs the line.
commands=$(sed -n 's/^[[:space:]]*#[[:space:]]*RUN:[[:space:]]\{0,1\}//p' "$test_file" |
    awk '{ if (sub(/\\[[:space:]]*$/, "")) { acc = acc $0 " " } else { print acc $0; acc = "" } }
         END { if (acc != "") print acc }' |
    sed -e 's/%s/"$GC_RUN_S"/g' -e 's/%t/"$GC_RUN_T"/g')

if [ -z "$commands" ]; then
    echo "run.sh: $test_file has no RUN lines" >&2
    exit 1
fi

count=0
failed=0
# The loop reads from a here-document, not a pipe, so `count` and `failed` survive it.
while IFS= read -r cmd; do
    [ -n "$cmd" ] || continue
    count=$((count + 1))
    if ! $shell "$prelude$cmd" </dev/null; then
        echo "run.sh: FAILED RUN line $count of $test_file:" >&2
        echo "    $cmd" >&2
        failed=1
    fi
done <<EOF
$commands
EOF

exit $failed
