#!/bin/sh
# test_capi_install.sh: gradc as a library user meets it — `cmake --install` of the already-built
# tree into a scratch prefix, then the C API examples (examples/c-api) built against that prefix
# only, with pkg-config and with find_package(gradc), shared and static, and run: the loss must
# fall, the checkpoint must hold the model's tensors, and every caller mistake must be an error.
#
# usage: test_capi_install.sh GRADC SOURCE_DIR PYTHON   (ctest passes these; GRADC's directory is
#                                                        the build tree to install)
# Prints one line per check and `N passed, M failed` last; exits 1 if any check failed.

. "$(dirname "$0")/lib/checks.sh"
script_args "$@"
build=$(cd "$(dirname "$gradc")" && pwd)
examples=$src/examples/c-api

make_tmp
prefix=$tmp/prefix
mkdir "$tmp/run"

# fail and check of its own (they replace lib/checks.sh's): each check writes a log of its own.
# fail NAME [LOG]: records a failure and shows the end of LOG.
fail() {
    failed=$((failed + 1))
    echo "FAIL: $1"
    if [ -n "$2" ] && grep -q '^FAIL' "$2"; then
        grep '^FAIL' "$2" | head -n 15 | sed 's/^/    | /'
    elif [ -n "$2" ] && [ -s "$2" ]; then
        tail -n 15 "$2" | sed 's/^/    | /'
    fi
}

# check NAME LOG CMD...: CMD succeeds (its output goes to LOG).
check() {
    name=$1
    log=$2
    shift 2
    if "$@" >"$log" 2>&1 </dev/null; then
        pass "$name"
    else
        fail "$name" "$log"
    fi
}

# The examples must be compiled the way the library was: the same compiler, and the sanitizer
# runtime when the build tree is instrumented (its objects call into it).
cache=$build/CMakeCache.txt
if [ ! -f "$cache" ]; then
    echo "$build is not a CMake build tree (no CMakeCache.txt)" >&2
    exit 2
fi
cc=$(sed -n 's/^CMAKE_C_COMPILER:[A-Z]*=//p' "$cache")
[ -n "$cc" ] || cc=cc
sanitize=
if grep -q '^GC_SANITIZE:BOOL=ON' "$cache"; then
    sanitize="-fsanitize=address,undefined -fno-omit-frame-pointer"
fi

# ---- the installed tree ----
check "cmake --install into a scratch prefix" "$tmp/install.log" cmake --install "$build" --prefix "$prefix"
for f in bin/gradc lib/libgradc.so lib/libgradc.a include/gradc/gradc.h lib/pkgconfig/gradc.pc \
         lib/cmake/gradc/gradcConfig.cmake lib/cmake/gradc/gradcConfigVersion.cmake \
         lib/cmake/gradc/gradcTargets.cmake; do
    if [ -e "$prefix/$f" ]; then pass "installed $f"; else fail "installed $f" "$tmp/install.log"; fi
done
if readelf -d "$prefix/lib/libgradc.so" 2>/dev/null | grep -q 'SONAME.*\[libgradc\.so\.[0-9]'; then
    pass "libgradc.so has a versioned SONAME"
else
    fail "libgradc.so has a versioned SONAME"
fi
version=$("$prefix/bin/gradc" --version 2>&1)
check "the installed gradc runs" "$tmp/version.log" "$prefix/bin/gradc" --version

# The header alone, with nothing but the prefix on the include path, as C99, C11 and C++.
printf '#include <gradc/gradc.h>\nint main(void) { gc_error e = {GC_OK, "", "", 0, 0}; return (int)e.code; }\n' \
    >"$tmp/header.c"
for std in c99 c11; do
    check "the installed header compiles alone ($std -pedantic)" "$tmp/header.log" \
        "$cc" -std=$std -pedantic -Wall -Wextra -Werror -fsyntax-only -I"$prefix/include" "$tmp/header.c"
done
if command -v c++ >/dev/null 2>&1; then
    check "the installed header compiles alone (C++)" "$tmp/header.log" \
        c++ -x c++ -Wall -Wextra -Werror -fsyntax-only -I"$prefix/include" "$tmp/header.c"
fi

# ---- pkg-config ----
PKG_CONFIG_PATH=$prefix/lib/pkgconfig
export PKG_CONFIG_PATH
pcversion=$(pkg-config --modversion gradc 2>"$tmp/pc.log")
if [ -n "$pcversion" ] && [ "$version" = "gradc $pcversion" ]; then
    pass "pkg-config --modversion gradc matches gradc --version ($pcversion)"
else
    fail "pkg-config --modversion gradc ('$pcversion') matches gradc --version ('$version')" "$tmp/pc.log"
fi
pc_cflags=$(pkg-config --cflags gradc)
pc_libs=$(pkg-config --libs gradc)
# Static: the same flags plus Libs.private, with -l:libgradc.a so the linker takes the archive
# although libgradc.so sits beside it.
pc_static=
for word in $(pkg-config --static --libs gradc); do
    [ "$word" = -lgradc ] && word=-l:libgradc.a
    pc_static="$pc_static $word"
done

# train_ok NAME LOG: the log of a train_xor run shows a loss that fell to under a quarter of the
# first step's, a perfect eval and an identical reload.
train_ok() {
    if awk '/^step [0-9]+ loss /{ if (first == "") first = $4; last = $4 }
            END { exit !(first != "" && first + 0 > 0 && last + 0 < first / 4) }' "$2" &&
        grep -q '^eval loss .* accuracy 1\.00 ' "$2" && grep -q '^reloaded eval loss' "$2"; then
        pass "$1: the loss falls ($(grep '^step' "$2" | head -n 1 | cut -d' ' -f4) -> $(grep '^step' "$2" | tail -n 1 | cut -d' ' -f4))"
    else
        fail "$1: the loss falls, eval is perfect and the reload matches" "$2"
    fi
}

# errors_ok NAME LOG CMD...: api_errors ran, exited 0 and counted its checks with none failed.
errors_ok() {
    name=$1
    log=$2
    shift 2
    if "$@" >"$log" 2>&1 </dev/null && grep -Eq '^[1-9][0-9]* passed, 0 failed$' "$log"; then
        pass "$name: every caller mistake is an error value ($(tail -n 1 "$log"))"
    else
        fail "$name: every caller mistake is an error value" "$log"
    fi
}

# shellcheck disable=SC2086 # the flag lists are meant to split into words
if "$cc" -std=c11 -Wall -Wextra -Werror $sanitize $pc_cflags -o "$tmp/xor_pc" "$examples/train_xor.c" \
    $pc_libs >"$tmp/cc.log" 2>&1; then
    pass "train_xor.c builds with pkg-config --cflags --libs gradc"
    ckpt=$tmp/run/xor.safetensors
    if (cd "$tmp/run" && LD_LIBRARY_PATH=$prefix/lib "$tmp/xor_pc" --steps 150 --save "$ckpt") >"$tmp/xor_pc.log" 2>&1; then
        pass "train_xor (pkg-config, shared) runs"
        train_ok "train_xor (pkg-config, shared)" "$tmp/xor_pc.log"
    else
        fail "train_xor (pkg-config, shared) runs" "$tmp/xor_pc.log"
    fi
    if LD_LIBRARY_PATH=$prefix/lib ldd "$tmp/xor_pc" 2>/dev/null | grep -q "libgradc\.so\.[0-9]* => $prefix/lib/"; then
        pass "train_xor (pkg-config) loads the installed libgradc.so"
    else
        fail "train_xor (pkg-config) loads the installed libgradc.so"
    fi
    # An error without a place in the model (a checkpoint that cannot be written) prints without
    # the ":0:0:" of an empty location; located errors are api_errors' bad.gm:2 check.
    if (cd "$tmp/run" && LD_LIBRARY_PATH=$prefix/lib "$tmp/xor_pc" --steps 2 --save "$tmp/no/such/dir/x.safetensors") \
        >"$tmp/xor_unlocated.log" 2>&1; then
        fail "train_xor refuses to save into a missing directory" "$tmp/xor_unlocated.log"
    elif grep -q '^train_xor: saving: ' "$tmp/xor_unlocated.log" && ! grep -q ':0:0' "$tmp/xor_unlocated.log"; then
        pass "an unlocated error prints without a location ($(grep -m1 '^train_xor: saving' "$tmp/xor_unlocated.log"))"
    else
        fail "an unlocated error prints as 'train_xor: saving: MESSAGE', without :0:0" "$tmp/xor_unlocated.log"
    fi
    # The checkpoint: safetensors whose JSON header names the params and the optimizer state.
    missing=
    for name in '"fc1.weight"' '"fc1.bias"' '"fc2.weight"' '"fc2.bias"' '"optimizer.fc1.weight.' '"step":"150"'; do
        grep -aq "$name" "$ckpt" 2>/dev/null || missing="$missing $name"
    done
    if [ -z "$missing" ]; then
        pass "the checkpoint holds the params, the optimizer state and the step"
    else
        fail "the checkpoint lacks:$missing"
    fi
else
    fail "train_xor.c builds with pkg-config --cflags --libs gradc" "$tmp/cc.log"
fi

# shellcheck disable=SC2086
if "$cc" -std=c11 -Wall -Wextra -Werror $sanitize $pc_cflags -o "$tmp/xor_static" "$examples/train_xor.c" \
    $pc_static >"$tmp/cc.log" 2>&1; then
    pass "train_xor.c builds with pkg-config --static (libgradc.a)"
    if readelf -d "$tmp/xor_static" | grep -q 'NEEDED.*libgradc'; then
        fail "the static train_xor does not need libgradc.so"
    else
        pass "the static train_xor does not need libgradc.so"
    fi
    if (cd "$tmp/run" && "$tmp/xor_static" --backend interp --steps 150 --save "$tmp/run/interp.safetensors") \
        >"$tmp/xor_static.log" 2>&1 && grep -q '^gradc .*, backend interp$' "$tmp/xor_static.log"; then
        train_ok "train_xor (pkg-config, static, interpreter)" "$tmp/xor_static.log"
    else
        fail "train_xor (pkg-config, static, interpreter) runs" "$tmp/xor_static.log"
    fi
else
    fail "train_xor.c builds with pkg-config --static (libgradc.a)" "$tmp/cc.log"
fi

check "train_xor reports a bad argument instead of running" "$tmp/usage.log" \
    sh -c "LD_LIBRARY_PATH='$prefix/lib' '$tmp/xor_pc' --steps many; test \$? -eq 1"
grep -q 'needs a positive whole number' "$tmp/usage.log" || fail "train_xor's message for a bad argument" "$tmp/usage.log"

# shellcheck disable=SC2086
if "$cc" -std=c11 -Wall -Wextra -Werror $sanitize $pc_cflags -o "$tmp/errors_pc" "$examples/api_errors.c" \
    $pc_libs >"$tmp/cc.log" 2>&1; then
    errors_ok "api_errors (pkg-config, shared)" "$tmp/errors_pc.log" \
        env LD_LIBRARY_PATH="$prefix/lib" "$tmp/errors_pc" "$tmp/run"
else
    fail "api_errors.c builds with pkg-config" "$tmp/cc.log"
fi

# ---- find_package(gradc) ----
# cmake_build NAME DIR [ARGS...]: configures and builds examples/c-api against the prefix only.
cmake_build() {
    name=$1
    dir=$2
    shift 2
    if cmake -S "$examples" -B "$dir" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_C_COMPILER="$cc" \
        -DCMAKE_C_FLAGS="$sanitize -Werror" -DCMAKE_EXE_LINKER_FLAGS="$sanitize" "$@" >"$dir.log" 2>&1 &&
        cmake --build "$dir" >>"$dir.log" 2>&1; then
        pass "$name"
        return 0
    fi
    fail "$name" "$dir.log"
    return 1
}

if cmake_build "examples/c-api builds with find_package(gradc) (shared)" "$tmp/cm_shared"; then
    (cd "$tmp/run" && "$tmp/cm_shared/train_xor" --steps 150 --hidden 12 --save "$tmp/run/cm.safetensors") \
        >"$tmp/cm_xor.log" 2>&1 || fail "train_xor (find_package, shared) runs" "$tmp/cm_xor.log"
    train_ok "train_xor (find_package, shared, hidden=12)" "$tmp/cm_xor.log"
fi
if cmake_build "examples/c-api builds with find_package(gradc) (static)" "$tmp/cm_static" -DGRADC_EXAMPLES_STATIC=ON; then
    errors_ok "api_errors (find_package, static)" "$tmp/cm_errors.log" "$tmp/cm_static/api_errors" "$tmp/run"
fi
# The version file, included the way find_package reads it (a script cannot find_package a package
# whose config needs a language): 0.x promises compatibility within a minor version only.
# version_says X.Y: what gradcConfigVersion.cmake answers to a request for X.Y.
version_says() {
    cat >"$tmp/version.cmake" <<EOF
set(PACKAGE_FIND_VERSION $1)
string(REPLACE . ";" parts $1)
list(GET parts 0 PACKAGE_FIND_VERSION_MAJOR)
list(GET parts 1 PACKAGE_FIND_VERSION_MINOR)
set(PACKAGE_FIND_VERSION_PATCH 0)
include($prefix/lib/cmake/gradc/gradcConfigVersion.cmake)
if(PACKAGE_VERSION_COMPATIBLE)
  message(compatible)
else()
  message(incompatible)
endif()
EOF
    cmake -P "$tmp/version.cmake" 2>&1
}
major=${pcversion%%.*}
minor=${pcversion#*.}
minor=${minor%%.*}
for request in "$major.$minor:compatible" "$major.$((minor + 1)):incompatible" "$((major + 1)).0:incompatible"; do
    got=$(version_says "${request%:*}")
    if [ "$got" = "${request#*:}" ]; then
        pass "find_package(gradc ${request%:*}) finds the installed $pcversion ${request#*:}"
    else
        fail "find_package(gradc ${request%:*}) against $pcversion: '$got', expected ${request#*:}"
    fi
done

finish
