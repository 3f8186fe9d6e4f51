#!/bin/sh
# test_twin_bf16.sh: mixed precision against PyTorch under torch.autocast("cpu", dtype=torch.bfloat16):
# the Transformer classifier (matmuls, batched attention products), the MLP (digits_cce) and two
# CNNs (digits_cnn: conv, batch norm, max pooling; digits_conv_layers: strided, depthwise,
# transposed and 1-D convolutions) trained by gradc with --precision bf16 (interpreter and JIT)
# and by their twins under autocast,
# from the same weights on the same batches, step by step within compare.py's bf16 tolerance.
# usage: test_twin_bf16.sh GRADC SOURCE_DIR PYTHON
status=0
for name in transformer_classifier digits_cce digits_cnn digits_conv_layers; do
    GC_TWIN_PRECISION=bf16 sh "$2/tests/twins/run_twin.sh" "$name" "$1" "$2" "$3" || status=1
done
exit $status
