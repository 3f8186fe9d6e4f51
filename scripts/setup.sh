#!/usr/bin/env bash
# setup.sh: installs what gradc needs to build, test and run on Debian 12 (bookworm).
#
# Quiet and quick when everything is present: it asks dpkg first and only touches apt when a
# package is missing. Runs as root, or through sudo otherwise.
set -euo pipefail

packages=(
    build-essential   # gcc, make, libc headers
    cmake
    pkg-config
    llvm-19-dev       # the LLVM C API the code generator uses
    llvm-19-tools     # FileCheck (in /usr/lib/llvm-19/bin) for the golden IR tests
    libopenblas-dev   # sgemm for matmuls
    libcmocka-dev     # unit tests
    python3-torch     # the test oracle
    python3-numpy
    python3-sklearn   # small real data sets for examples and tests
    graphviz          # renders `gradc ir --format dot`
    clang-19          # libFuzzer targets (tests/fuzz)
    libclang-rt-19-dev
    libprotobuf-c-dev # ONNX import: protobuf-c decodes the onnx.proto that libonnx-dev ships
    protobuf-c-compiler
    libonnx-dev
    libonnx-testdata  # ONNX's own node tests
    python3-onnx      # exporting PyTorch twins to ONNX
    python3-torchvision # reference CNNs (ResNet-18, MobileNetV2) for twins and benchmarks
    libopenmpi-dev    # data-parallel training
    openmpi-bin
)

missing=()
for pkg in "${packages[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
    if [ "$status" != "installed" ]; then
        missing+=("$pkg")
    fi
done
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

echo "setup.sh: installing ${missing[*]}" >&2
if [ "$(id -u)" -eq 0 ]; then
    as_root=()
elif command -v sudo >/dev/null 2>&1; then
    as_root=(sudo)
else
    echo "setup.sh: error: need root (or sudo) to install: ${missing[*]}" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
