#!/usr/bin/env bash
# demo.sh: set up, build gradc (Release), and train the bundled character-level GPT
# (examples/char_gpt: the language specification's tiny_gpt with small sizes) on the first twenty
# chapters of Genesis (King James Version, public domain; see examples/char_gpt/README.md).
#
# It shows the model's parameters and memory, trains with a progress bar, generates text from the
# trained model, and draws the loss curve. Everything it writes stays in demo-output/ (or
# $DEMO_DIR). EPOCHS (default 10) sets the length of the run: about a minute on 2 cores.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
build_dir=${BUILD_DIR:-build-release}
out=${DEMO_DIR:-$root/demo-output}
epochs=${EPOCHS:-10}
model=examples/char_gpt/model.gm
text=examples/char_gpt/data/genesis_1-20.txt

scripts/setup.sh
echo "== building gradc (Release) in $build_dir"
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DGC_BUILD_TESTS=OFF >/dev/null
cmake --build "$build_dir" -j"$(nproc 2>/dev/null || echo 2)" >/dev/null
gradc=$build_dir/gradc
"$gradc" --version
mkdir -p "$out"

echo
echo "== the model: $model"
grep -v '^\s*#' "$model" | sed '/^\s*$/d'

echo
echo "== gradc check: parameters (PyTorch's names) and the memory of one training step"
"$gradc" check "$model" | sed -n '/parameters:/,$p'

echo
echo "== training on $(wc -c < "$text") bytes of text for $epochs epochs (JIT, 2 threads)"
"$gradc" train "$model" --text "$text" --epochs "$epochs" --threads 2 --verbose \
    --save "$out/char_gpt.safetensors" --log "$out/train.csv"

echo
echo "== a sample from the trained model (gradc sample, temperature 0.8)"
"$gradc" sample "$model" --params "$out/char_gpt.safetensors" --prompt "And God said" \
    --length 300 --temperature 0.8 --seed 7
echo

"$gradc" plot "$out/train.csv" -o "$out/loss.svg" --title "char_gpt: training loss"
first=$(sed -n 2p "$out/train.csv" | cut -d, -f2)
last=$(tail -n 1 "$out/train.csv" | cut -d, -f2)
echo
echo "== done: the loss went from $first to $last"
echo "   checkpoint (safetensors, loads into the PyTorch twin): $out/char_gpt.safetensors"
echo "   per-step log:                                          $out/train.csv"
echo "   loss curve (open in a browser):                        $out/loss.svg"
