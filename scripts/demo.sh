#!/usr/bin/env bash
# demo.sh: builds gradc (Release) and runs something real through it.
#
# Today that is the reference interpreter on a hand-written IR program: the forward pass and
# cross-entropy loss of a small MLP (examples/ir/mlp_forward.ir), evaluated by `gradc run` on
# .npy inputs that NumPy generates with a fixed seed; then the same program differentiated by the
# autodiff pass (`gradc opt --passes=autodiff,dce`) gives the gradients of the loss with respect to
# every parameter. Outputs and gradients are checked against NumPy's own answer.
# Build dir: build-release/ (or $BUILD_DIR).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
build_dir=${BUILD_DIR:-build-release}
python=${PYTHON:-/usr/bin/python3}

scripts/setup.sh
echo "== building gradc (Release) in $build_dir"
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DGC_BUILD_TESTS=OFF >/dev/null
cmake --build "$build_dir" -j"$(nproc 2>/dev/null || echo 2)" >/dev/null
gradc=$build_dir/gradc
"$gradc" --version

work=$(mktemp -d "${TMPDIR:-/tmp}/gradc_demo.XXXXXX")
trap 'rm -rf "$work"' EXIT

echo
echo "== the program: examples/ir/mlp_forward.ir (a 8-16-3 MLP with its loss, in textual IR)"
grep -v '^#' examples/ir/mlp_forward.ir | sed '/^$/d'

echo
echo "== inputs: x[4, 8], labels[4] and the parameters, random with a fixed seed (NumPy)"
"$python" examples/ir/make_mlp_data.py "$work/data"
args=()
for name in x labels fc1.weight fc1.bias fc2.weight fc2.bias; do
    args+=(--input "$name=$work/data/$name.npy")
done
echo "gradc run examples/ir/mlp_forward.ir ${args[*]//$work\//} --output-dir out"

echo
echo "== outputs of the reference interpreter"
"$gradc" run examples/ir/mlp_forward.ir "${args[@]}"

echo
echo "== gradients: gradc opt --passes=autodiff,dce, then gradc run on the result"
"$gradc" opt examples/ir/mlp_forward.ir --passes=autodiff,dce -o "$work/mlp_grad.ir"
echo "the differentiated graph has $(grep -c '^  %' "$work/mlp_grad.ir") nodes; its new outputs:"
grep '^  grad ' "$work/mlp_grad.ir"
"$gradc" run "$work/mlp_grad.ir" "${args[@]}" --output-dir "$work/out"

echo
echo "== the same computation in NumPy (float64) against gradc's saved outputs"
"$python" examples/ir/make_mlp_data.py --check "$work/data" "$work/out"
