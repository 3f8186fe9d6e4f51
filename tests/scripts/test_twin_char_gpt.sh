#!/bin/sh
# test_twin_char_gpt.sh: examples/char_gpt trains like its PyTorch twin (tests/twins/run_twin.sh).
# usage: test_twin_char_gpt.sh GRADC SOURCE_DIR PYTHON
exec sh "$2/tests/twins/run_twin.sh" char_gpt "$1" "$2" "$3"
