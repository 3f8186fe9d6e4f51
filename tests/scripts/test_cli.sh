#!/bin/sh
# test_cli.sh: the `gradc` command as a user meets it — version, help, exit statuses, `gradc opt`
# and `gradc run` on a good IR file (outputs checked against NumPy), and the error each kind of bad
# input must give.
#
# usage: test_cli.sh GRADC SOURCE_DIR PYTHON     (ctest passes these; PYTHON has NumPy)
# Prints one line per check and `N passed, M failed` last; exits 1 if any check failed.

. "$(dirname "$0")/lib/checks.sh"
script_args "$@"
make_tmp

ir=$src/examples/ir/mlp_forward.ir
gen=$src/examples/ir/make_mlp_data.py

# ---- the command itself ----
expect "gradc --version" 0 '^gradc [0-9]+\.[0-9]+\.[0-9]+$' "$gradc" --version
expect "gradc --help lists run" 0 '^  run ' "$gradc" --help
expect "gradc --help lists opt" 0 '^  opt ' "$gradc" --help
expect "gradc with no command" 1 '^usage: gradc' "$gradc"
expect "unknown command" 1 "^gradc: error: unknown command 'frobnicate'" "$gradc" frobnicate
expect "gradc run --help" 0 '^usage: gradc run FILE.ir' "$gradc" run --help
expect "gradc opt --help" 0 '^usage: gradc opt FILE.ir' "$gradc" opt --help
expect "run: unknown option" 1 "^gradc: error: run: unknown option '--bogus'" "$gradc" run "$ir" --bogus
expect "run: no IR file" 1 '^gradc: error: run: no IR file' "$gradc" run
expect "run: bad --precision" 1 'precision must be f32 or f64' "$gradc" run "$ir" --precision f16
expect "run: --input without '='" 1 'expects NAME=FILE.npy' "$gradc" run "$ir" --input x

# ---- gradc opt: prints the graph, and its output parses back to the same text ----
expect "opt on a good file" 0 '^graph @mlp_forward \{' "$gradc" opt "$ir"
cp "$tmp/out" "$tmp/printed.ir"
expect "opt reprints its own output unchanged" 0 'output "loss" = %17' "$gradc" opt "$tmp/printed.ir"
if cmp -s "$tmp/out" "$tmp/printed.ir"; then pass "opt round trip is byte-identical"; else fail "opt round trip is byte-identical"; fi

# ---- gradc run on the example, checked against NumPy ----
if "$py" "$gen" "$tmp/data" >"$tmp/out" 2>"$tmp/err"; then
    pass "generate inputs with NumPy"
else
    fail "generate inputs with NumPy"
fi
# run_mlp X.npy LABELS.npy [ARGS...]: gradc run on the example with the generated parameters.
run_mlp() {
    x=$1
    labels=$2
    shift 2
    "$gradc" run "$ir" --input "x=$x" --input "labels=$labels" \
        --input "fc1.weight=$tmp/data/fc1.weight.npy" --input "fc1.bias=$tmp/data/fc1.bias.npy" \
        --input "fc2.weight=$tmp/data/fc2.weight.npy" --input "fc2.bias=$tmp/data/fc2.bias.npy" "$@"
}
X=$tmp/data/x.npy
L=$tmp/data/labels.npy

expect "run prints the loss" 0 '^loss: f32\[\] = [0-9.e+-]+$' run_mlp "$X" "$L" --output-dir "$tmp/f32"
cp "$tmp/out" "$tmp/run.txt"
if grep -Eq '^logits: f32\[4, 3\] = \[([^,]+, ){10}\.\.\.\]$' "$tmp/run.txt"; then
    pass "run prints 10 values then ..."
else
    fail "run prints 10 values then ..."
fi
expect "run outputs match NumPy (f32)" 0 'loss: .* ok' "$py" "$gen" --check "$tmp/data" "$tmp/f32"
# The printed loss is the saved one, to the float.
expect "printed loss equals the saved loss" 0 '^same$' "$py" -c '
import sys, numpy as np
line = [l for l in open(sys.argv[1]) if l.startswith("loss:")][0]
printed = np.float32(line.split("=")[1])
saved = np.load(sys.argv[2])
print("same" if saved.dtype == np.float32 and printed == saved else "printed %r saved %r" % (printed, saved))
' "$tmp/run.txt" "$tmp/f32/loss.npy"
expect "run --precision f64" 0 '^loss: f32\[\] = ' run_mlp "$X" "$L" --precision f64 --output-dir "$tmp/f64"
expect "run outputs match NumPy (f64)" 0 'loss: .* ok' "$py" "$gen" --check "$tmp/data" "$tmp/f64"
expect "f64 run saves f64 outputs" 0 '^float64$' "$py" -c 'import sys, numpy as np; print(np.load(sys.argv[1]).dtype)' "$tmp/f64/probs.npy"

# Differentiated by the autodiff pass, the same graph gives gradients NumPy agrees with.
expect "opt --passes=autodiff,dce" 0 '^  grad "fc1\.weight" = %[0-9]+$' "$gradc" opt "$ir" --passes=autodiff,dce
cp "$tmp/out" "$tmp/grad.ir"
ir_fwd=$ir
ir=$tmp/grad.ir
expect "run prints a gradient" 0 '^grad fc1\.weight: f32\[16, 8\] = \[' run_mlp "$X" "$L" --output-dir "$tmp/grad"
expect "gradients match NumPy" 0 'grad\.fc1\.weight: shape \[16, 8\], .* ok' "$py" "$gen" --check "$tmp/data" "$tmp/grad"
ir=$ir_fwd

# ---- gradc check: parameters, the planned step's memory, --gradcheck ----
gpt=$src/tests/models/good/tiny_gpt.gm
expect "check lists the parameters" 0 '^  total +[0-9]+$' "$gradc" check "$gpt" --threads 2
cp "$tmp/out" "$tmp/check.out"
if "$py" - "$tmp/check.out" >"$tmp/out" 2>"$tmp/err" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
assert "as `gradc train` plans it (threads: 2)" in text, text
mib = {k: float(v) for k, v in re.findall(r"^  (\w[\w ]*?) +([0-9.]+) MiB(?:  \(.*)?$", text, re.M)}
parts = ["parameters", "gradients", "optimizer state", "inputs", "activations", "workspace"]
assert all(p in mib for p in parts), mib
assert abs(sum(mib[p] for p in parts) - mib["peak"]) < 0.02, mib
# AdamW with clip_grad_norm: every gradient is kept until the updates (the optimizer in backward,
# tests/scripts/test_update_in_backward.sh, would report 0 here).
assert mib["gradients"] == mib["parameters"] and "the optimizer runs in backward" not in text, text
assert mib["optimizer state"] == 2 * mib["parameters"], mib
unplanned = float(re.search(r"activations would take ([0-9.]+) MiB", text).group(1))
assert 0 < mib["activations"] < unplanned / 2, (mib, unplanned)
PY
then pass "check splits the planned step's peak memory, below the unplanned activations"
else fail "check splits the planned step's peak memory, below the unplanned activations"; fi
expect "check --gradcheck passes on a correct model" 0 '^gradcheck: [1-9][0-9]* gradient elements checked, 0 outside' \
    "$gradc" check "$src/tests/models/good/mlp.gm" --gradcheck

# ---- bad inputs: each exits 1 with a message that says what is wrong ----
expect "missing IR file" 1 "^gradc: error: cannot open $tmp/nosuch.ir" "$gradc" run "$tmp/nosuch.ir"
printf 'graph @g {\n  %%0 = input "x" : f32[2, 3]\n  %%1 = bogus(%%0) : f32[2, 3]\n}\n' >"$tmp/bad.ir"
expect "malformed IR: file:line:col" 1 "^$tmp/bad.ir:3:[0-9]+: error: " "$gradc" run "$tmp/bad.ir"
expect "malformed IR (opt): file:line:col" 1 "^$tmp/bad.ir:3:[0-9]+: error: " "$gradc" opt "$tmp/bad.ir"
printf 'graph @g {\n  %%0 = input "x" : f32[2, 3]\n  %%1 = add(%%0, %%0) : f32[2, 4]\n  output "y" = %%1\n}\n' >"$tmp/shape.ir"
expect "IR with a wrong stated type" 1 "^$tmp/shape.ir:3:[0-9]+: error: " "$gradc" run "$tmp/shape.ir"
expect "unknown --input name lists the sources" 1 \
    "no input, param, state or buffer of that name \(it has: input x f32\[4, 8\], input labels i32\[4\]" \
    run_mlp "$X" "$L" --input "nope=$tmp/data/x.npy"
expect "unbound source" 1 "no value for param fc2.bias f32\[3\]" \
    "$gradc" run "$ir" --input "x=$tmp/data/x.npy" --input "labels=$tmp/data/labels.npy" \
    --input "fc1.weight=$tmp/data/fc1.weight.npy" --input "fc1.bias=$tmp/data/fc1.bias.npy" \
    --input "fc2.weight=$tmp/data/fc2.weight.npy"
expect "wrong-shape .npy names both shapes" 1 \
    "--input x: .*fc1.bias.npy holds an array of shape \[16\] \(<f4\) but input 'x' is f32\[4, 8\]" \
    run_mlp "$tmp/data/fc1.bias.npy" "$L"
expect "missing .npy file" 1 "--input x: cannot open $tmp/none.npy" run_mlp "$tmp/none.npy" "$L"
head -c 140 "$tmp/data/x.npy" >"$tmp/trunc_data.npy"
expect "truncated .npy data" 1 "trunc_data.npy: truncated data \(128 bytes expected for 32 elements, 12 present\)" \
    run_mlp "$tmp/trunc_data.npy" "$L"
head -c 40 "$tmp/data/x.npy" >"$tmp/trunc_header.npy"
expect "truncated .npy header" 1 "trunc_header.npy: truncated header" run_mlp "$tmp/trunc_header.npy" "$L"
printf 'x,y\n1,2\n' >"$tmp/notnpy.npy"
expect "not a .npy file" 1 "notnpy.npy: not a .npy file" run_mlp "$tmp/notnpy.npy" "$L"

# Files NumPy writes that gradc refuses, each with its reason.
"$py" -c '
import sys, numpy as np
d = sys.argv[1]
x = np.load(d + "/data/x.npy")
np.save(d + "/fortran.npy", np.asfortranarray(x))
np.save(d + "/bigendian.npy", x.astype(">f4"))
np.save(d + "/int_x.npy", x.astype(np.int32))
np.save(d + "/f16.npy", x.astype(np.float16))
np.save(d + "/biglabel.npy", np.array([0, 1, 2, 2**31], dtype=np.int64))
np.save(d + "/x64.npy", x.astype(np.float64))
' "$tmp" >"$tmp/out" 2>"$tmp/err" || fail "write refused files with NumPy"
expect "Fortran-order .npy" 1 "fortran.npy: Fortran-order arrays are not supported" \
    run_mlp "$tmp/fortran.npy" "$L"
expect "big-endian .npy" 1 "bigendian.npy: big-endian data \(>f4\) is not supported" \
    run_mlp "$tmp/bigendian.npy" "$L"
expect "integer .npy for a float input" 1 "int_x.npy holds integer data \(<i4\), which does not convert to f32" \
    run_mlp "$tmp/int_x.npy" "$L"
expect "float16 .npy" 1 "f16.npy: unsupported dtype '<f2'" run_mlp "$tmp/f16.npy" "$L"
expect "i64 label outside i32" 1 "biglabel.npy: element 3 is 2147483648, outside the i32 range" \
    run_mlp "$X" "$tmp/biglabel.npy"
# A float64 input is accepted and rounded to f32: same loss line as from the f32 file.
expect "f64 .npy converts to f32" 0 '^loss: ' run_mlp "$tmp/x64.npy" "$L"
if [ "$(grep '^loss:' "$tmp/out")" = "$(grep '^loss:' "$tmp/run.txt")" ]; then
    pass "f64 .npy gives the f32 file's loss"
else
    fail "f64 .npy gives the f32 file's loss"
fi

finish
