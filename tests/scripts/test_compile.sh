#!/bin/sh
# test_compile.sh: `gradc compile` end to end. A small MLP (dropout, batch norm with its buffers,
# layer norm, Adam, clipping, a schedule) is compiled into a standalone trainer, which must not link LLVM (ldd, nm); trained
# on .npy data, its logged loss, lr, grad_norm and accuracy must agree with `gradc train --backend
# jit` on the same data and steps (to 1e-5: the JIT fuses kernels, the object does not); resuming
# must be bit for bit; checkpoints move both ways; eval must match `gradc eval`, a partial last
# batch included; an installed gradc must link its own runtime library through $CC; --emit obj's
# object and header must compile and link into a C program that trains; and the errors
# (unwritable -o, bad flags, missing C compiler or runtime library) exit 1 with a message.
#
# usage: test_compile.sh GRADC SOURCE_DIR PYTHON     (ctest passes these; PYTHON has NumPy)
# Prints one line per check and `N passed, M failed` last; exits 1 if any check failed.

. "$(dirname "$0")/lib/checks.sh"
script_args "$@"
make_tmp
export OPENBLAS_NUM_THREADS=1

cat >"$tmp/mlp.gm" <<'MODEL'
# A small classifier: dropout (random numbers per step), batch norm (buffers: running statistics),
# layer norm, Adam, clipping, a schedule.
const batch = 8
const features = 6
const hidden = 16
const classes = 3

input x: f32[batch, features]
input y: i32[batch]

h = relu(batchnorm1d(linear(x, hidden) as fc1) as bn)
h = dropout(h, 0.25)
logits = linear(layernorm(h) as norm, classes) as fc2
loss = cross_entropy(logits, y)
output accuracy = accuracy(logits, y)

train {
    optimizer = adam(lr=0.01)
    schedule = step(every=5, gamma=0.5)
    clip_grad_norm = 1.0
    seed = 7
}
MODEL

"$py" - "$tmp" <<'PY' || { echo "FAIL: could not write the data"; exit 1; }
import sys
import numpy as np
rng = np.random.default_rng(3)
x = rng.standard_normal((40, 6)).astype(np.float32)
y = (x[:, 0] + x[:, 1] > 0).astype(np.int64) + (x[:, 2] > 1).astype(np.int64)
np.save(sys.argv[1] + "/x.npy", x)
np.save(sys.argv[1] + "/y.npy", y)
PY
data="--data x=$tmp/x.npy --data y=$tmp/y.npy"

# The trainer.
check "compile writes a trainer" "$gradc" compile "$tmp/mlp.gm" -o "$tmp/mlp"
if [ -x "$tmp/mlp" ]; then pass "the trainer is executable"; else fail "the trainer is executable"; fi
if command -v ldd >/dev/null 2>&1; then
    ldd "$tmp/mlp" >"$tmp/out" 2>&1
    if grep -qi llvm "$tmp/out"; then fail "ldd: the trainer does not link libLLVM"; else pass "ldd: the trainer does not link libLLVM"; fi
fi
nm "$tmp/mlp" >"$tmp/out" 2>"$tmp/err"
if grep -q ' [Tt] gc_aot_train_step$' "$tmp/out" && grep -q ' [Tt] gc_aot_eval_step$' "$tmp/out" &&
    ! grep -qi 'LLVM' "$tmp/out"; then
    pass "nm: both graphs' step functions are in the trainer, no LLVM symbol"
else
    fail "nm: both graphs' step functions are in the trainer, no LLVM symbol"
fi

# Same data, same steps: the trainer's log equals the JIT's, column by column except the time.
expect "gradc train --backend jit runs" 0 "^trained 12 steps" \
    "$gradc" train "$tmp/mlp.gm" $data --steps 12 --log "$tmp/jit.csv" --backend jit --quiet
expect "the trainer trains" 0 "^trained 12 steps" \
    "$tmp/mlp" train $data --steps 12 --log "$tmp/aot.csv" --save "$tmp/aot.st" --quiet
# The JIT executor runs fused kernels with memory reuse; the object file is the unfused module
# (gc_codegen_emit_object takes no fusion plan), so fused ops may round differently: every logged
# value must agree to 1e-5 relative over 12 steps (a wrong offset, graph or data order is off by
# far more; see docs/compile.md).
"$py" - "$tmp/jit.csv" "$tmp/aot.csv" >"$tmp/out" 2>&1 <<'PY'
import csv, sys
a, b = (list(csv.reader(open(p))) for p in sys.argv[1:3])
assert a[0] == b[0] and len(a) == len(b) == 13, (a[0], b[0], len(a), len(b))
worst = 0.0
for ra, rb in zip(a[1:], b[1:]):
    for k, name in enumerate(a[0]):
        if name == "ms":
            continue
        x, y = float(ra[k]), float(rb[k])
        rel = abs(x - y) / max(abs(x), 1e-30)
        worst = max(worst, rel)
        assert rel <= 1e-5, (ra[0], name, x, y)
print("largest relative difference", worst)
PY
if [ $? -eq 0 ]; then
    pass "loss, lr, grad_norm and accuracy agree with the JIT's at every step"
else
    fail "loss, lr, grad_norm and accuracy agree with the JIT's at every step"
fi

# Bit for bit against itself: 6 steps, a checkpoint, 6 resumed steps equal 12 steps in one go.
expect "the trainer saves after 6 steps" 0 "^trained 6 steps" \
    "$tmp/mlp" train $data --steps 6 --save "$tmp/half.st" --log "$tmp/cont.csv" --quiet
expect "the trainer resumes its checkpoint" 0 "^trained 6 steps" \
    "$tmp/mlp" train $data --steps 6 --resume "$tmp/half.st" --save "$tmp/resumed.st" --log "$tmp/cont.csv" --quiet
check "the resumed trainer continues its log: the 12-step run's losses" "$py" -c '
import csv, sys
col = lambda p: [(r["step"], r["loss"]) for r in csv.DictReader(open(p))]
assert col(sys.argv[1]) == col(sys.argv[2]), (col(sys.argv[1]), col(sys.argv[2]))
' "$tmp/aot.csv" "$tmp/cont.csv"
if cmp -s "$tmp/aot.st" "$tmp/resumed.st"; then pass "6 + 6 resumed steps give the 12-step checkpoint, bit for bit"; else fail "6 + 6 resumed steps give the 12-step checkpoint, bit for bit"; fi
check "the trainer's checkpoint holds batch norm's buffers as torch's dtypes" "$py" -c '
import json, struct, sys
blob = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", blob[:8])[0]
h = json.loads(blob[8:8 + n])
nbt = h["bn.num_batches_tracked"]
assert nbt["dtype"] == "I64" and nbt["shape"] == [], nbt
begin, end = nbt["data_offsets"]
assert struct.unpack("<q", blob[8 + n + begin:8 + n + end]) == (12,)
assert h["bn.running_var"]["dtype"] == "F32" and h["bn.running_var"]["shape"] == [16]
assert not any(k.startswith("optimizer.bn.running") for k in h)
' "$tmp/aot.st"
# Checkpoints move between the two: gradc resumes the trainer's.
expect "gradc train resumes the trainer's checkpoint" 0 "^trained 2 steps" \
    "$gradc" train "$tmp/mlp.gm" $data --steps 2 --resume "$tmp/aot.st" --quiet

# Progress output and --no-shuffle take the same form as gradc train's.
expect "plain progress lines" 0 "^step 4/4  loss [0-9.]+" "$tmp/mlp" train $data --steps 4 --no-shuffle
expect "eval prints the mean loss and outputs" 0 "^accuracy 0?\.[0-9]+" "$tmp/mlp" eval --params "$tmp/aot.st" $data
expect "eval --json" 0 '^\{"examples": 40, "loss": [0-9.e+-]+, "outputs": \{"accuracy": ' \
    "$tmp/mlp" eval --params "$tmp/aot.st" $data --json

# 43 examples in batches of 8: the trainer's eval of the last 3 (two padded batches) agrees with
# gradc eval's (which recompiles the model for a batch of 3) to float32 rounding.
"$py" - "$tmp" <<'PY'
import sys
import numpy as np
rng = np.random.default_rng(5)
x = rng.standard_normal((43, 6)).astype(np.float32)
np.save(sys.argv[1] + "/x43.npy", x)
np.save(sys.argv[1] + "/y43.npy", (x[:, 0] > 0).astype(np.int64))
PY
"$tmp/mlp" eval --params "$tmp/aot.st" --data x="$tmp/x43.npy" --data y="$tmp/y43.npy" >"$tmp/eval_aot" 2>"$tmp/err"
"$gradc" eval "$tmp/mlp.gm" --params "$tmp/aot.st" --data x="$tmp/x43.npy" --data y="$tmp/y43.npy" >"$tmp/eval_gradc" 2>>"$tmp/err"
"$py" - "$tmp/eval_aot" "$tmp/eval_gradc" >"$tmp/out" 2>&1 <<'PY'
import sys
a, b = (dict(l.split() for l in open(p) if l.strip()) for p in sys.argv[1:3])
assert set(a) == {"loss", "accuracy"} and set(b) >= set(a), (a, b)
for k in a:
    x, y = float(a[k]), float(b[k])
    assert abs(x - y) <= 1e-6 * abs(y), (k, x, y)
PY
if [ $? -eq 0 ]; then pass "eval over 43 examples agrees with gradc eval"; else fail "eval over 43 examples agrees with gradc eval"; fi

# --set is compiled in: a trainer with another batch size reads 4 examples a step.
check "compile --set batch=4" "$gradc" compile "$tmp/mlp.gm" -o "$tmp/mlp4" --set batch=4
expect "the --set trainer has 10 steps an epoch" 0 "^trained 10 steps" "$tmp/mlp4" train $data --quiet

# Errors.
expect "unwritable -o is a user error" 1 "error: cannot write" "$gradc" compile "$tmp/mlp.gm" -o /nonexistent/dir/mlp
expect "-o is required" 1 "error: .*-o" "$gradc" compile "$tmp/mlp.gm"
expect "a bad model is located" 1 "bad.gm:1:" sh -c "printf 'input x: f32[2\n' >'$tmp/bad.gm'; '$gradc' compile '$tmp/bad.gm' -o '$tmp/bad'"
expect "a missing C compiler is named" 1 "no-such-cc" env CC=no-such-cc "$gradc" compile "$tmp/mlp.gm" -o "$tmp/nocc"
expect "the trainer rejects an unknown flag" 1 "unknown option '--bogus'" "$tmp/mlp" train --bogus
expect "the trainer names a missing input" 1 "no input 'z'" "$tmp/mlp" train --data z="$tmp/x.npy"
expect "eval needs --params" 1 "needs --params" "$tmp/mlp" eval $data
expect "the trainer's --help" 0 "usage: mlp train" "$tmp/mlp" --help

# An installed gradc links trainers against the runtime library installed beside it, through $CC.
cat >"$tmp/cc-log" <<'SH'
#!/bin/sh
echo "$@" >>"${0%/*}/cc.args"
exec cc "$@"
SH
chmod +x "$tmp/cc-log"
if command -v cmake >/dev/null 2>&1 && cmake --install "$(dirname "$gradc")" --prefix "$tmp/inst" >"$tmp/out" 2>&1; then
    expect "an installed gradc compiles a trainer with \$CC" 0 "^trained 2 steps" sh -c \
        "env -u GC_RUNTIME_LIB CC='$tmp/cc-log' '$tmp/inst/bin/gradc' compile '$tmp/mlp.gm' -o '$tmp/mlp_inst' &&
         '$tmp/mlp_inst' train $data --steps 2 --quiet"
    if grep -q "$tmp/inst/bin/../lib/libgradc_runtime.a" "$tmp/cc.args" 2>/dev/null; then
        pass "it linked the installed lib/libgradc_runtime.a"
    else
        cp "$tmp/cc.args" "$tmp/out" 2>/dev/null
        fail "it linked the installed lib/libgradc_runtime.a"
    fi
fi
expect "a missing GC_RUNTIME_LIB is named" 1 "GC_RUNTIME_LIB=$tmp/none" \
    env GC_RUNTIME_LIB="$tmp/none" "$gradc" compile "$tmp/mlp.gm" -o "$tmp/none"

# --emit obj: the object and its header, linked into a program of one's own that runs steps.
check "compile --emit obj" "$gradc" compile "$tmp/mlp.gm" --emit obj -o "$tmp/model.o" --prefix mlp_
if [ -s "$tmp/model.o" ] && [ -s "$tmp/model.h" ]; then pass "model.o and model.h written"; else fail "model.o and model.h written"; fi
nm "$tmp/model.o" >"$tmp/out" 2>&1
if grep -q ' T mlp_step$' "$tmp/out" && grep -q ' T mlp_init$' "$tmp/out" && ! grep -q ' T gc_step$' "$tmp/out"; then
    pass "nm: the object defines mlp_init and mlp_step"
else
    fail "nm: the object defines mlp_init and mlp_step"
fi
cat >"$tmp/user.c" <<'CSRC'
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "model.h"
static const mlp_tensor *find(const char *kind, const char *name) {
    for (int i = 0; i < MLP_NUM_TENSORS; i++)
        if (!strcmp(mlp_tensors[i].kind, kind) && !strcmp(mlp_tensors[i].name, name)) return &mlp_tensors[i];
    return NULL;
}
int main(void) {
    char *arena = aligned_alloc(64, (size_t)MLP_ARENA_SIZE);
    memset(arena, 0, (size_t)MLP_ARENA_SIZE);
    mlp_init(arena, NULL);
    float *x = (float *)(arena + MLP_INPUT_X), *w = (float *)(arena + find("param", "fc1.weight")->offset);
    int *y = (int *)(arena + MLP_INPUT_Y);
    for (int i = 0; i < 8 * 6; i++) x[i] = (float)((i * 7) % 11) / 11.0f - 0.5f;
    for (int i = 0; i < 8; i++) y[i] = i % 3;
    for (int i = 0; i < 16 * 6; i++) w[i] = (float)((i * 5) % 13) / 26.0f - 0.25f;
    float loss = 0;
    for (int step = 0; step < 2; step++) {
        mlp_step(arena, NULL);
        loss = *(float *)(arena + MLP_OUTPUT_LOSS);
        mlp_update(arena, NULL);
        /* copy the updates not computed in place back into their params, state and buffers */
        for (int i = 0; i < MLP_NUM_TENSORS; i++) {
            if (strcmp(mlp_tensors[i].kind, "update")) continue;
            const mlp_tensor *t = find("param", mlp_tensors[i].name);
            if (!t) t = find("state", mlp_tensors[i].name);
            if (!t) t = find("buffer", mlp_tensors[i].name);
            size_t n = 4;
            for (int d = 0; d < t->rank; d++) n *= (size_t)t->shape[d];
            if (t->offset != mlp_tensors[i].offset) memmove(arena + t->offset, arena + mlp_tensors[i].offset, n);
        }
    }
    printf("loss %.6f\n", loss);
    free(arena);
    return !(loss > 0 && loss < 10);
}
CSRC
check "model.h compiles with cc -Wall -Werror" cc -std=c11 -Wall -Wextra -Werror -c "$tmp/user.c" -I"$tmp" -o "$tmp/user.o"
if [ -s "$tmp/user.o" ]; then
    check "a C program links model.o and runs two steps" sh -c \
        "cc -o '$tmp/user' '$tmp/user.o' '$tmp/model.o' -lopenblas -lm && '$tmp/user'"
fi
check "--emit obj --graph eval" "$gradc" compile "$tmp/mlp.gm" --emit obj --graph eval -o "$tmp/eval.o"
if grep -q "model_step" "$tmp/eval.h" 2>/dev/null && grep -q "MODEL_ARENA_SIZE" "$tmp/eval.h"; then
    pass "the eval header uses the default prefix model_"
else
    fail "the eval header uses the default prefix model_"
fi

finish
