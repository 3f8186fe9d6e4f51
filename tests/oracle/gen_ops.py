#!/usr/bin/python3
"""gen_ops.py: expected values for every IR op, computed by PyTorch/NumPy, for test_interp_ops.

Usage: gen_ops.py OUTDIR  -> writes OUTDIR/interp_ops.txt

Each case names one op, its attributes, its operands and the expected result, so the C test can
build the one-op graph generically. Inputs are deterministic (a fixed NumPy seed plus hand-picked
edge values); expected values come from the PyTorch/NumPy function that means the same thing,
evaluated in float64 on the (float32-representable) inputs and rounded to float32 when the
result is f32, so they are what a float32 program should produce. random_uniform is checked
against Philox4x32-10 written here again from its definition.

File format (whitespace-separated tokens, one record per line for readability):
    case NAME OP
    attr FIELD VALUE...            (AXES and PERM fields list several numbers)
    operand DTYPE RANK DIMS... VALUES...
    expect DTYPE RANK DIMS... VALUES...
    end
For the named sources (input, param, state, buffer) the single operand is the value set on the node.
"""
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

torch.set_num_threads(1)
RNG = np.random.default_rng(20240611)
CASES = []
INT_MIN, INT_MAX = -(2**31), 2**31 - 1


# --- tensors -------------------------------------------------------------------------------

def f32(a):
    return ("f32", np.asarray(a, dtype=np.float32))


def f64(a):
    return ("f64", np.asarray(a, dtype=np.float64))


def i32(a):
    return ("i32", np.asarray(a, dtype=np.int32))


def normal(*shape, scale=1.0):
    return f32(RNG.standard_normal(shape) * scale)


def tt(x):
    """An operand as a torch tensor: floats in float64 (exact), i32 as int32 (wrapping)."""
    dtype, a = x
    return torch.from_numpy(a.astype(np.int32 if dtype == "i32" else np.float64))


def result(dtype, value):
    """The expected tensor: value (torch or numpy) converted to dtype like a program would."""
    v = value.numpy() if isinstance(value, torch.Tensor) else np.asarray(value)
    with np.errstate(over="ignore", invalid="ignore"):
        if dtype == "f32":
            return ("f32", v.astype(np.float64).astype(np.float32))
        if dtype == "f64":
            return ("f64", v.astype(np.float64))
        assert v.dtype.kind in "iub", "i32 results must be computed in integers"
        return ("i32", v.astype(np.int64).astype(np.int32))


def case(name, op, operands, expect, **attrs):
    CASES.append((name, op, attrs, operands, expect))


# --- Philox4x32-10, from Salmon et al. 2011 -------------------------------------------------

MASK = 0xFFFFFFFF


def philox4x32(counter, key):
    c, k = list(counter), list(key)
    for _ in range(10):
        p0, p1 = 0xD2511F53 * c[0], 0xCD9E8D57 * c[2]
        c = [((p1 >> 32) ^ c[1] ^ k[0]) & MASK, p1 & MASK, ((p0 >> 32) ^ c[3] ^ k[1]) & MASK, p0 & MASK]
        k = [(k[0] + 0x9E3779B9) & MASK, (k[1] + 0xBB67AE85) & MASK]
    return c


assert philox4x32([0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344], [0xA4093822, 0x299F31D0]) == \
    [0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1]


def random_uniform(seed, stream, step, count):
    out = []
    for i in range(count):
        w = philox4x32([i & MASK, i >> 32, step & MASK, stream & MASK], [seed & MASK, (seed >> 32) & MASK])
        out.append((w[0] >> 8) * 2.0**-24)
    return np.array(out)


# --- sources --------------------------------------------------------------------------------

def sources():
    for op in ("input", "param", "state", "buffer"):
        x = normal(2, 3)
        case(f"{op}.f32", op, [x], result("f32", tt(x)))
    case("input.i32", "input", [i32([3, -4, INT_MAX, INT_MIN])], i32([3, -4, INT_MAX, INT_MIN]))
    case("state.f64_scalar", "state", [f64(0.1)], f64(0.1))
    case("buffer.i32_scalar", "buffer", [i32(7)], i32(7))

    case("constant.f32", "constant", [], result("f32", np.full((2, 3), 1.5)), value=1.5)
    case("constant.f32_rounds", "constant", [], result("f32", np.array(0.1)), value=0.1)
    case("constant.f64_keeps", "constant", [], f64([0.1, 0.1]), value=0.1)
    case("constant.i32", "constant", [], i32([-2, -2, -2]), value=-2.0)
    case("constant.inf", "constant", [], result("f32", np.full((2,), math.inf)), value=math.inf)

    case("iota.f32_axis1", "iota", [], result("f32", np.broadcast_to(np.arange(3), (2, 3))), axis=1)
    case("iota.i32_axis0", "iota", [], i32(np.broadcast_to(np.arange(3)[:, None, None], (3, 2, 2))), axis=0)
    case("iota.f64", "iota", [], f64(np.arange(4)), axis=0)

    case("random_uniform.f32", "random_uniform", [i32(3)],
         result("f32", random_uniform(42, 7, 3, 15).reshape(3, 5)), seed=42, stream=7)
    case("random_uniform.f64_seed_high_step_negative", "random_uniform", [i32(-1)],
         f64(random_uniform(2**33 + 5, 1, 2**32 - 1, 6).reshape(2, 3)), seed=2**33 + 5, stream=1)


# --- elementwise unary ----------------------------------------------------------------------

def spread():
    """Normal values plus edge values every float op should survive."""
    edges = [0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 1e-4, -1e-4, 3.0, -3.0, 10.0, -10.0]
    return f32(np.concatenate([RNG.standard_normal(12) * 3, edges]).reshape(4, 6))


def positive():
    return f32(np.concatenate([np.abs(RNG.standard_normal(9)) * 4 + 1e-3, [1.0, 4.0, 1e-6, 100.0, 0.25, 7.0]]))


def unary_float(op, fn, inputs):
    for label, x in inputs:
        case(f"{op}.{label}", op, [x], result("f32", fn(tt(x))))


def unary():
    nan, inf = math.nan, math.inf
    mixed = f32([0.0, -0.0, 1.0, -2.5, 3.25, inf, -inf, nan])
    unary_float("neg", torch.neg, [("f32", spread()), ("special", mixed)])
    case("neg.i32", "neg", [i32([0, 5, -7, INT_MAX, INT_MIN])], result("i32", -tt(i32([0, 5, -7, INT_MAX, INT_MIN]))))
    case("neg.f64", "neg", [f64([0.1, -2.0])], f64([-0.1, 2.0]))

    unary_float("exp", torch.exp, [("f32", spread()), ("overflow", f32([88.0, 89.0, 100.0, -104.0, -200.0, inf, -inf]))])
    domain = f32([0.0, -0.0, -1.0, inf, nan])
    unary_float("log", torch.log, [("positive", positive()), ("domain", domain)])
    unary_float("sqrt", torch.sqrt, [("positive", positive()), ("domain", domain)])
    unary_float("rsqrt", torch.rsqrt, [("positive", positive()), ("domain", domain)])
    unary_float("reciprocal", torch.reciprocal, [("f32", spread()), ("domain", domain)])
    big = f32([-1000.0, -50.0, -20.0, 20.0, 50.0, 1000.0, inf, -inf])
    unary_float("tanh", torch.tanh, [("f32", spread()), ("big", big)])
    unary_float("sigmoid", torch.sigmoid, [("f32", spread()), ("big", big)])
    unary_float("relu", torch.relu, [("f32", spread()), ("special", mixed)])
    case("relu.i32", "relu", [i32([-3, 0, 4, INT_MIN])], i32([0, 0, 4, 0]))
    unary_float("gelu", F.gelu, [("f32", spread()), ("big", f32([-50.0, -8.0, 8.0, 50.0]))])
    unary_float("gelu_tanh", lambda t: F.gelu(t, approximate="tanh"),
                [("f32", spread()), ("big", f32([-50.0, -8.0, 8.0, 50.0]))])
    unary_float("silu", F.silu, [("f32", spread()), ("big", big[:6])])
    unary_float("abs", torch.abs, [("f32", spread()), ("special", mixed)])
    case("abs.i32", "abs", [i32([-3, 0, 4, INT_MAX, INT_MIN])], result("i32", tt(i32([-3, 0, 4, INT_MAX, INT_MIN])).abs()))
    unary_float("square", torch.square, [("f32", spread()), ("overflow", f32([1e20, -2e19, 3.0]))])
    sq = i32([-3, 0, 46341, 65536, 100000])
    case("square.i32_wraps", "square", [sq], result("i32", tt(sq) * tt(sq)))
    soft = f32([-100.0, -30.0, -20.0, 0.0, 19.5, 20.0, 20.5, 30.0, 100.0, inf, -inf])
    unary_float("softplus", F.softplus, [("f32", spread()), ("threshold", soft)])
    unary_float("log_sigmoid", F.logsigmoid, [("f32", spread()), ("big", soft)])
    unary_float("erf", torch.special.erf, [("f32", spread()), ("big", big)])
    unary_float("sin", torch.sin, [("f32", spread()), ("big", f32([100.0, -1000.0, 3.1415927]))])
    unary_float("cos", torch.cos, [("f32", spread()), ("big", f32([100.0, -1000.0, 3.1415927]))])
    unary_float("sign", torch.sign, [("f32", spread()), ("special", mixed)])
    case("sign.i32", "sign", [i32([-3, 0, 4, INT_MIN])], i32([-1, 0, 1, -1]))

    x = spread()
    case("pow.square", "pow", [x], result("f32", torch.pow(tt(x), 2.0)), exponent=2.0)
    case("pow.cube_negative", "pow", [x], result("f32", torch.pow(tt(x), 3.0)), exponent=3.0)
    p = positive()
    case("pow.sqrt", "pow", [p], result("f32", torch.pow(tt(p), 0.5)), exponent=0.5)
    case("pow.negative_fraction", "pow", [p], result("f32", torch.pow(tt(p), -1.5)), exponent=-1.5)
    d = f32([0.0, -2.0, 2.0, -8.0])
    case("pow.domain", "pow", [d], result("f32", torch.pow(tt(d), -0.5)), exponent=-0.5)
    case("pow.zero", "pow", [d], result("f32", torch.pow(tt(d), 0.0)), exponent=0.0)
    case("pow.f64", "pow", [f64([0.3, 2.0])], f64(np.power([0.3, 2.0], 1.7)), exponent=1.7)

    c = f32([-3.0, -0.5, -0.25, 0.0, 0.5, 0.7, 0.71, 5.0, nan, -inf, inf])
    case("clamp.f32", "clamp", [c], result("f32", torch.clamp(tt(c), -0.5, 0.7)), lo=-0.5, hi=0.7)
    case("clamp.lo_above_hi", "clamp", [c], result("f32", torch.clamp(tt(c), 2.0, 1.0)), lo=2.0, hi=1.0)
    ci = i32([-5, -2, 0, 3, 4, INT_MIN, INT_MAX])
    case("clamp.i32", "clamp", [ci], result("i32", torch.clamp(tt(ci), -2, 3)), lo=-2.0, hi=3.0)
    case("clamp.one_sided", "clamp", [c], result("f32", torch.clamp(tt(c), min=0.0)), lo=0.0, hi=inf)

    t = f32([-2.7, -0.5, -0.0, 0.0, 0.5, 2.7, 1e6 + 0.5, -123456.75])
    case("cast.f32_to_i32_truncates", "cast", [t], result("i32", tt(t).to(torch.int32)))
    big_i = i32([16777217, -16777219, 3, INT_MAX, INT_MIN])
    case("cast.i32_to_f32_rounds", "cast", [big_i], result("f32", tt(big_i).to(torch.float64)))
    case("cast.i32_to_f64_exact", "cast", [big_i], f64(big_i[1].astype(np.float64)))
    case("cast.f32_to_f64", "cast", [t], f64(t[1].astype(np.float64)))
    case("cast.f64_to_f32", "cast", [f64([0.1, 1e40, -1e-50, 2.5])], result("f32", np.array([0.1, 1e40, -1e-50, 2.5])))
    case("cast.f64_to_i32", "cast", [f64([-7.9, 7.9, 0.999])], i32([-7, 7, 0]))

    s = spread()
    case("stop_gradient.f32", "stop_gradient", [s], result("f32", tt(s)))
    case("stop_gradient.i32", "stop_gradient", [i32([1, -2])], i32([1, -2]))
    # One process: the sum over processes is x itself (the step's hooks add the others').
    case("all_reduce_sum.f32", "all_reduce_sum", [s], result("f32", tt(s)))


# --- elementwise binary ---------------------------------------------------------------------

def div_i32(a, b):
    """Truncating i32 division with x / 0 = 0 (and INT_MIN / -1 wrapping), from the definition."""
    out = []
    for x, y in zip(a.ravel().tolist(), b.ravel().tolist()):
        q = 0 if y == 0 else abs(x) // abs(y) * (1 if (x < 0) == (y < 0) else -1)
        out.append(((q + 2**31) % 2**32) - 2**31)
    return np.array(out, dtype=np.int64).reshape(a.shape)


def binary():
    nan, inf = math.nan, math.inf
    fns = {"add": torch.add, "sub": torch.sub, "mul": torch.mul, "div": torch.div,
           "maximum": torch.maximum, "minimum": torch.minimum}
    for op, fn in fns.items():
        a, b = normal(2, 3, 4), normal(3, 1)
        case(f"{op}.broadcast_3d_2d", op, [a, b], result("f32", fn(tt(a), tt(b))))
        a, b = normal(4), normal(2, 1, 4)
        case(f"{op}.broadcast_lead", op, [a, b], result("f32", fn(tt(a), tt(b))))
        a, b = normal(), normal(3)
        case(f"{op}.scalar", op, [a, b], result("f32", fn(tt(a), tt(b))))
        a, b = f64([0.1, 0.2, -0.3]), f64([0.7])
        case(f"{op}.f64", op, [a, b], f64(fn(tt(a), tt(b))))
        a = f32([1.0, 2.0, -0.0, nan, 1.0, inf, -inf, 0.0])
        b = f32([1.0, 3.0, 0.0, 1.0, nan, inf, 2.0, 0.0])
        case(f"{op}.ties_and_special", op, [a, b], result("f32", fn(tt(a), tt(b))))
    ia = i32([[7, -7, 7, -7, 0, INT_MIN, INT_MAX, 100000], [1, 2, 3, 4, 5, 6, 7, 8]])
    ib = i32([2, 2, -2, -2, 3, -1, 1, 100000])
    for op in ("add", "sub", "mul", "maximum", "minimum"):
        case(f"{op}.i32", op, [ia, ib], result("i32", fns[op](tt(ia), tt(ib))))
    iz = i32([2, 0, -2, -2, 0, -1, 1, 0])
    case("div.i32_truncates", "div", [ia, iz], i32(div_i32(ia[1], np.broadcast_to(iz[1], ia[1].shape))))

    cmp = {"lt": torch.lt, "le": torch.le, "gt": torch.gt, "ge": torch.ge, "eq": torch.eq, "ne": torch.ne}
    for op, fn in cmp.items():
        a, b = f32([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]]), f32([2.0, 2.0, 2.0])
        case(f"{op}.ties_broadcast", op, [a, b], result("f32", fn(tt(a), tt(b))))
        a, b = f32([nan, 1.0, -0.0, inf]), f32([nan, nan, 0.0, inf])
        case(f"{op}.special", op, [a, b], result("f32", fn(tt(a), tt(b))))
        a, b = i32([[INT_MIN, 0, 5], [5, 6, INT_MAX]]), i32([[5], [6]])
        case(f"{op}.i32", op, [a, b], result("f32", fn(tt(a), tt(b))))

    cond = f32(np.array([1.0, 0.0, -0.5, -0.0, nan, 2.0, 0.0, 1.0]).reshape(2, 1, 4))
    a, b = normal(3, 1), normal(4)
    case("select.broadcast", "select", [cond, a, b],
         result("f32", torch.where(tt(cond) != 0, tt(a), tt(b))))
    c1 = f32([1.0, 0.0, 1.0])
    case("select.i32", "select", [c1, i32([[1, 2, 3], [4, 5, 6]]), i32(-9)], i32([[1, -9, 3], [4, -9, 6]]))
    c2 = f32([[0.0], [1.0]])
    case("select.cond_broadcast_f64", "select", [c2, f64([0.1, 0.2]), f64([[0.3, 0.4], [0.5, 0.6]])],
         f64([[0.3, 0.4], [0.1, 0.2]]))


# --- reductions -----------------------------------------------------------------------------


def reductions():
    nan = math.nan
    x = normal(2, 3, 4)
    ties = f32([[1.0, 3.0, 3.0, -1.0], [2.0, 2.0, 2.0, 2.0], [-5.0, 3.0, -7.0, 0.0]])
    withnan = f32([[1.0, nan, 2.0], [0.5, 0.25, -1.0]])
    red = {
        "sum": lambda t, d, k: torch.sum(t, dim=d, keepdim=k),
        "mean": lambda t, d, k: torch.mean(t, dim=d, keepdim=k),
        "max": lambda t, d, k: torch.amax(t, dim=d, keepdim=k),
        "min": lambda t, d, k: torch.amin(t, dim=d, keepdim=k),
    }
    for op, fn in red.items():
        case(f"{op}.axis1", op, [x], result("f32", fn(tt(x), (1,), False)), axes=[1], keepdims=False)
        case(f"{op}.axes02_keepdims", op, [x], result("f32", fn(tt(x), (0, 2), True)), axes=[0, 2], keepdims=True)
        case(f"{op}.all", op, [x], result("f32", fn(tt(x), (0, 1, 2), False)), axes=[0, 1, 2], keepdims=False)
        case(f"{op}.all_keepdims", op, [x], result("f32", fn(tt(x), (0, 1, 2), True)), axes=[0, 1, 2], keepdims=True)
        case(f"{op}.no_axes", op, [x], result("f32", tt(x)), axes=[], keepdims=False)
        case(f"{op}.ties", op, [ties], result("f32", fn(tt(ties), (1,), True)), axes=[1], keepdims=True)
        case(f"{op}.nan", op, [withnan], result("f32", fn(tt(withnan), (1,), False)), axes=[1], keepdims=False)
        s = f32(2.5)
        case(f"{op}.scalar", op, [s], result("f32", tt(s)), axes=[], keepdims=True)
        d = f64([[0.1, 0.2], [0.3, 0.4]])
        case(f"{op}.f64", op, [d], f64(fn(tt(d), (0,), False)), axes=[0], keepdims=False)
    xi = i32([[INT_MAX, 1, 5], [-3, INT_MIN, 7]])
    for op in ("sum", "max", "min"):
        case(f"{op}.i32", op, [xi], result("i32", red[op](tt(xi), (0,), False)), axes=[0], keepdims=False)
        case(f"{op}.i32_rows", op, [xi], result("i32", red[op](tt(xi), (1,), True)), axes=[1], keepdims=True)

    case("argmax.axis1_ties", "argmax", [ties], result("i32", torch.argmax(tt(ties), dim=1)), axis=1)
    case("argmax.axis0_ties", "argmax", [ties], result("i32", torch.argmax(tt(ties), dim=0)), axis=0)
    y = normal(2, 3, 2)
    for ax in range(3):
        case(f"argmax.rank3_axis{ax}", "argmax", [y], result("i32", torch.argmax(tt(y), dim=ax)), axis=ax)
    case("argmax.nan_first", "argmax", [withnan], result("i32", torch.argmax(tt(withnan), dim=1)), axis=1)
    yi = i32([[3, 9, 9], [INT_MIN, INT_MIN, -1]])
    case("argmax.i32", "argmax", [yi], result("i32", torch.argmax(tt(yi), dim=1)), axis=1)
    case("argmax.rank1", "argmax", [f32([1.0, 4.0, 4.0])], i32(1), axis=0)

    z = normal(2, 5, 3, scale=3.0)
    large = f32([[1000.0, 1.0, -math.inf], [999.0, 2.0, -math.inf], [-1000.0, 3.0, 0.0], [1000.0, 4.0, 0.0]])
    for op, fn in (("softmax", torch.softmax), ("log_softmax", torch.log_softmax)):
        case(f"{op}.axis1", op, [z], result("f32", fn(tt(z), dim=1)), axis=1)
        case(f"{op}.axis2", op, [z], result("f32", fn(tt(z), dim=2)), axis=2)
        case(f"{op}.large_axis0", op, [large], result("f32", fn(tt(large), dim=0)), axis=0)
        case(f"{op}.large_axis1", op, [large], result("f32", fn(tt(large), dim=1)), axis=1)
        d = f64([0.1, 0.2, 0.3])
        case(f"{op}.f64", op, [d], f64(fn(tt(d), dim=0)), axis=0)


# --- matmul ---------------------------------------------------------------------------------

def matmul():
    def mm(a, b, ta, tb):
        x, y = tt(a), tt(b)
        if ta:
            x = x.transpose(-1, -2)
        if tb:
            y = y.transpose(-1, -2)
        return torch.matmul(x, y)

    shapes = [
        ("plain", (3, 4), (4, 5), False, False),
        ("transpose_a", (4, 3), (4, 5), True, False),
        ("transpose_b", (3, 4), (5, 4), False, True),
        ("transpose_both", (4, 3), (5, 4), True, True),
        ("batched", (2, 3, 4), (2, 4, 5), False, False),
        ("batch_broadcast", (2, 1, 3, 4), (3, 4, 2), False, False),
        ("matrix_times_batch", (3, 4), (2, 4, 5), False, False),
        ("batched_transposes", (2, 1, 4, 3), (1, 2, 5, 4), True, True),
        ("vector_like", (1, 6), (6, 1), False, False),
    ]
    for label, sa, sb, ta, tb in shapes:
        a, b = normal(*sa), normal(*sb)
        case(f"matmul.{label}", "matmul", [a, b], result("f32", mm(a, b, ta, tb)),
             transpose_a=ta, transpose_b=tb)
    a, b = f64(RNG.standard_normal((2, 3))), f64(RNG.standard_normal((3, 2)))
    case("matmul.f64", "matmul", [a, b], f64(mm(a, b, False, False)), transpose_a=False, transpose_b=False)
    a, b = f32([[1e30, 1.0]]), f32([[1e30], [0.0]])
    case("matmul.overflow", "matmul", [a, b], result("f32", mm(a, b, False, False)),
         transpose_a=False, transpose_b=False)


# --- data movement --------------------------------------------------------------------------

def movement():
    x = normal(2, 3, 4)
    case("reshape.rank3_to_2", "reshape", [x], result("f32", tt(x).reshape(4, 6)))
    case("reshape.i32_to_scalar", "reshape", [i32([7])], i32(7))
    case("reshape.scalar_to_rank3", "reshape", [f64(0.25)], f64(np.full((1, 1, 1), 0.25)))

    case("permute.rank3", "permute", [x], result("f32", tt(x).permute(2, 0, 1)), perm=[2, 0, 1])
    y = normal(3, 4)
    case("permute.transpose", "permute", [y], result("f32", tt(y).permute(1, 0)), perm=[1, 0])
    yi = i32(np.arange(2 * 3 * 2 * 2).reshape(2, 3, 2, 2))
    case("permute.i32_rank4", "permute", [yi], result("i32", tt(yi).permute(3, 1, 0, 2)), perm=[3, 1, 0, 2])
    case("permute.identity_rank1", "permute", [f32([1.0, 2.0])], f32([1.0, 2.0]), perm=[0])

    b = normal(3, 1)
    case("broadcast.inner_and_lead", "broadcast", [b], result("f32", tt(b).expand(2, 3, 4)))
    case("broadcast.scalar", "broadcast", [f32(1.25)], f32(np.full((2, 2), 1.25)))
    bi = i32([[1, 2, 3]])
    case("broadcast.i32", "broadcast", [bi], result("i32", tt(bi).expand(2, 3)))

    s = normal(2, 4, 3)
    case("slice.axis1", "slice", [s], result("f32", tt(s)[:, 1:3, :]), axis=1, start=1, end=3)
    case("slice.axis0", "slice", [s], result("f32", tt(s)[1:2]), axis=0, start=1, end=2)
    case("slice.last_axis_full", "slice", [s], result("f32", tt(s)), axis=2, start=0, end=3)
    si = i32(np.arange(10))
    case("slice.i32", "slice", [si], i32(np.arange(10)[9:10]), axis=0, start=9, end=10)

    p = normal(2, 3, 2)
    case("pad.axis0", "pad", [p], result("f32", F.pad(tt(p), (0, 0, 0, 0, 1, 2))), axis=0, before=1, after=2)
    case("pad.axis2_after", "pad", [p], result("f32", F.pad(tt(p), (0, 1))), axis=2, before=0, after=1)
    case("pad.axis1_before", "pad", [p], result("f32", F.pad(tt(p), (0, 0, 3, 0))), axis=1, before=3, after=0)
    case("pad.i32", "pad", [i32([5, -6])], i32([0, 5, -6, 0, 0]), axis=0, before=1, after=2)

    parts = [normal(2, 1, 3), normal(2, 2, 3), normal(2, 3, 3)]
    case("concat.axis1_three", "concat", parts, result("f32", torch.cat([tt(v) for v in parts], dim=1)), axis=1)
    case("concat.single", "concat", parts[:1], result("f32", tt(parts[0])), axis=0)
    parts2 = [normal(2, 2), normal(2, 3)]
    case("concat.last_axis", "concat", parts2, result("f32", torch.cat([tt(v) for v in parts2], dim=1)), axis=1)
    ci = [i32([[1, 2]]), i32([[3, 4], [5, 6]])]
    case("concat.i32_axis0", "concat", ci, i32([[1, 2], [3, 4], [5, 6]]), axis=0)

    def take(table, idx):
        t, ix = tt(table), tt(idx).long()
        ok = (ix >= 0) & (ix < t.shape[0])
        rows = torch.index_select(t, 0, torch.where(ok, ix, torch.zeros_like(ix)).reshape(-1))
        rows = rows.reshape(tuple(ix.shape) + tuple(t.shape[1:]))
        keep = ok.reshape(tuple(ix.shape) + (1,) * (t.dim() - 1))
        return torch.where(keep, rows, torch.zeros_like(rows))

    table, idx = normal(5, 3), i32([[0, 4, -1, 2], [5, 2, 2, 100]])
    case("take.rows_out_of_range", "take", [table, idx], result("f32", take(table, idx)))
    t1, i1 = normal(6), i32([5, 0, 3])
    case("take.rank1_table", "take", [t1, i1], result("f32", take(t1, i1)))
    t3, i0 = normal(4, 2, 2), i32(3)
    case("take.scalar_index", "take", [t3, i0], result("f32", take(t3, i0)))
    ti, ii = i32([[1, 2], [3, 4], [5, 6]]), i32([2, -3, 0])
    case("take.i32_table", "take", [ti, ii], result("i32", take(ti, ii)))

    def scatter_add(upd, idx, rows, dtype):
        u, ix = tt(upd), tt(idx).long().reshape(-1)
        width = tuple(u.shape[idx[1].ndim:])
        u = u.reshape((-1,) + width)
        ok = (ix >= 0) & (ix < rows)
        out = torch.zeros((rows,) + width, dtype=u.dtype)
        return result(dtype, out.index_add(0, ix[ok], u[ok]))

    u, ix = normal(5, 3), i32([0, 2, 0, 7, -1])
    case("scatter_add.duplicates_out_of_range", "scatter_add", [u, ix], scatter_add(u, ix, 4, "f32"))
    u2, ix2 = normal(2, 2, 3), i32([[1, 1], [0, 3]])
    case("scatter_add.rank2_indices", "scatter_add", [u2, ix2], scatter_add(u2, ix2, 4, "f32"))
    u3, ix3 = normal(4), i32([2, 2, 2, 9])
    case("scatter_add.rank1_result", "scatter_add", [u3, ix3], scatter_add(u3, ix3, 3, "f32"))
    u4, ix4 = i32([[INT_MAX, 1], [1, 2], [3, 4]]), i32([0, 0, 1])
    case("scatter_add.i32_wraps", "scatter_add", [u4, ix4], scatter_add(u4, ix4, 2, "i32"))

    def index_add(base, upd, idx, dtype):
        b, u, ix = tt(base), tt(upd), tt(idx).long().reshape(-1)
        rows = b.shape[0]
        u = u.reshape((-1,) + tuple(b.shape[1:]))
        ok = (ix >= 0) & (ix < rows)
        return result(dtype, b.index_add(0, ix[ok], u[ok]))

    b5, u5, ix5 = normal(4, 3), normal(5, 3), i32([0, 2, 0, 7, -1])
    case("index_add.duplicates_out_of_range", "index_add", [b5, u5, ix5], index_add(b5, u5, ix5, "f32"))
    b6, u6, ix6 = normal(4, 2), normal(2, 2, 2), i32([[1, 1], [0, 3]])
    case("index_add.rank2_indices", "index_add", [b6, u6, ix6], index_add(b6, u6, ix6, "f32"))
    b7, u7, ix7 = i32([INT_MAX, 5]), i32([1, 2, 3]), i32([0, 1, 1])
    case("index_add.i32_wraps", "index_add", [b7, u7, ix7], index_add(b7, u7, ix7, "i32"))

    def one_hot(idx, depth):
        ix = tt(idx).long()
        ok = (ix >= 0) & (ix < depth)
        oh = F.one_hot(torch.where(ok, ix, torch.zeros_like(ix)), depth)
        return result("f32", oh * ok.unsqueeze(-1))

    oi = i32([[0, 3, -1], [4, 1, 1]])
    case("one_hot.out_of_range", "one_hot", [oi], one_hot(oi, 4), depth=4)
    case("one_hot.scalar", "one_hot", [i32(2)], one_hot(i32(2), 3), depth=3)
    case("one_hot.depth1", "one_hot", [i32([0, 1])], one_hot(i32([0, 1]), 1), depth=1)


# --- pooling --------------------------------------------------------------------------------

def pooling():
    """max_pool / avg_pool and their gradients against torch.nn.functional (gradients by autograd)."""
    fns = {1: (F.max_pool1d, F.avg_pool1d), 2: (F.max_pool2d, F.avg_pool2d), 3: (F.max_pool3d, F.avg_pool3d)}

    def attrs(k, s, p, d=None, ceil=False, cip=True):
        n = len(k)
        return dict(kernel=list(k), stride=list(s), padding=list(p), dilation=list(d or [1] * n),
                    ceil_mode=ceil, count_include_pad=cip)

    def max_cases(name, x, k, s, p, d=None, ceil=False):
        a = attrs(k, s, p, d, ceil)
        fn = fns[len(k)][0]
        xt = tt(x).clone().requires_grad_(True)
        y = fn(xt, a["kernel"], a["stride"], a["padding"], a["dilation"], ceil_mode=ceil)
        dy = normal(*y.shape)
        y.backward(tt(dy))
        case(f"max_pool.{name}", "max_pool", [x], result(x[0], y.detach()), **a)
        case(f"max_pool_grad.{name}", "max_pool_grad", [x, (x[0], dy[1].astype(x[1].dtype))],
             result(x[0], xt.grad), **a)

    def avg_cases(name, x, k, s, p, ceil=False, cip=True):
        a = attrs(k, s, p, None, ceil, cip)
        fn = fns[len(k)][1]
        xt = tt(x).clone().requires_grad_(True)
        y = fn(xt, a["kernel"], a["stride"], a["padding"], ceil_mode=ceil, count_include_pad=cip)
        dy = normal(*y.shape)
        y.backward(tt(dy))
        case(f"avg_pool.{name}", "avg_pool", [x], result(x[0], y.detach()), **a)
        case(f"avg_pool_grad.{name}", "avg_pool_grad", [(x[0], dy[1].astype(x[1].dtype))],
             result(x[0], xt.grad), **a)

    max_cases("1d_overlap_pad", normal(2, 3, 9), [3], [2], [1])
    max_cases("1d_ceil_partial", normal(2, 2, 7), [2], [2], [0], ceil=True)
    max_cases("1d_ceil_dropped", normal(1, 2, 6), [3], [3], [1], ceil=True)
    max_cases("2d_k2", normal(2, 3, 6, 8), [2, 2], [2, 2], [0, 0])
    max_cases("2d_dilation_pad", normal(1, 2, 9, 8), [3, 2], [2, 1], [1, 1], [2, 3])
    max_cases("2d_ceil_stride_gt_kernel", normal(1, 2, 8, 7), [2, 3], [3, 2], [1, 0], ceil=True)
    max_cases("3d", normal(1, 2, 5, 4, 6), [2, 3, 2], [2, 1, 2], [1, 1, 0], [1, 1, 2], ceil=True)
    max_cases("f64", f64(RNG.standard_normal((1, 2, 5, 5))), [3, 3], [2, 2], [1, 1])
    # Ties keep the first maximum in scan order; NaN wins (the last NaN of a window); -inf
    # windows still route their gradient to a tap inside the input.
    ties = f32([[[[1, 3, 3, 0], [3, 2, 1, 3], [5, 5, 5, 5], [-1, 5, 2, 5]]]])
    max_cases("ties", ties, [2, 2], [1, 1], [1, 1])
    special = f32([[[[math.nan, 1, 2, -math.inf], [3, math.nan, math.inf, -math.inf],
                    [-math.inf, -math.inf, 0, math.nan], [-math.inf, -math.inf, 4, 4]]]])
    max_cases("nan_inf", special, [2, 2], [2, 2], [0, 0])
    max_cases("nan_inf_overlap", special, [3, 3], [1, 1], [1, 1])

    avg_cases("1d_pad_include", normal(2, 3, 9), [3], [2], [1])
    avg_cases("1d_pad_exclude_ceil", normal(2, 3, 8), [3], [2], [1], ceil=True, cip=False)
    avg_cases("1d_ceil_include", normal(2, 2, 7), [2], [2], [1], ceil=True)
    avg_cases("2d_k2", normal(2, 3, 6, 8), [2, 2], [2, 2], [0, 0])
    avg_cases("2d_overlap_exclude", normal(1, 2, 7, 6), [3, 2], [1, 2], [1, 1], cip=False)
    avg_cases("2d_ceil_include", normal(1, 2, 7, 8), [3, 3], [2, 2], [1, 1], ceil=True)
    avg_cases("2d_ceil_exclude", normal(1, 2, 7, 8), [3, 2], [2, 3], [1, 1], ceil=True, cip=False)
    avg_cases("3d", normal(1, 2, 5, 4, 6), [2, 3, 2], [2, 1, 2], [1, 1, 0], ceil=True, cip=False)
    avg_cases("f64", f64(RNG.standard_normal((1, 2, 5, 5))), [3, 3], [2, 2], [1, 1])
# --- recurrent layers (ir/recurrence.h) -----------------------------------------------------

def recurrence_reference(cell, xproj, w_hh, b_hh, h0, c0, reverse):
    """The packed result, built from torch's own cells (torch.rnn_tanh_cell, lstm_cell,
    gru_cell with an identity input weight, so their input is the projection itself) and the
    gate values spelled out; returns (packed, [per-step tensors to take gradients of])."""
    n, steps, gh = xproj.shape
    hid = w_hh.shape[1]
    eye, zero = torch.eye(gh, dtype=torch.float64), torch.zeros(gh, dtype=torch.float64)
    h, c = h0, c0
    cols = [None] * steps
    pre = [None] * steps
    order = range(steps - 1, -1, -1) if reverse else range(steps)
    for t in order:
        x = xproj[:, t]
        gates = x + h @ w_hh.T + b_hh
        if cell in (0, 1):
            gates.retain_grad()
            h_ref = (torch.rnn_tanh_cell if cell == 0 else torch.rnn_relu_cell)(x, h, eye, w_hh, zero, b_hh)
            h = torch.tanh(gates) if cell == 0 else torch.relu(gates)
            assert torch.allclose(h, h_ref)
            cols[t], pre[t] = [h], [gates]
        elif cell == 2:
            gates.retain_grad()
            i, f, g, o = gates.split(hid, dim=1)
            i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
            h_ref, c_ref = torch.lstm_cell(x, (h, c), eye, w_hh, zero, b_hh)
            c = f * c + i * g
            h = o * torch.tanh(c)
            assert torch.allclose(h, h_ref) and torch.allclose(c, c_ref)
            cols[t], pre[t] = [i, f, g, o, c, h], [gates]
        else:
            xr, xz, xn = x.split(hid, dim=1)
            hr, hz, hh = (h @ w_hh.T).split(hid, dim=1)
            br, bz, bn = b_hh.split(hid)
            rz = torch.cat([xr + hr + br, xz + hz + bz], dim=1)
            rz.retain_grad()
            r, z = torch.sigmoid(rz).split(hid, dim=1)
            hn = hh + bn
            hn.retain_grad()
            npre = xn + r * hn
            npre.retain_grad()
            nn_ = torch.tanh(npre)
            h_ref = torch.gru_cell(x, h, eye, w_hh, zero, b_hh)
            h = (1 - z) * nn_ + z * h
            assert torch.allclose(h, h_ref)
            cols[t], pre[t] = [r, z, hn, nn_, h], [rz, hn, npre]
    packed = torch.stack([torch.cat(cs, dim=1) for cs in cols], dim=1)
    return packed, pre


def recurrence_grad_reference(cell, packed, dpacked, pre, h0, c0, hid):
    """recurrence_grad's expected result from torch's autograd through the reference above."""
    (packed * dpacked).sum().backward()
    rows = []
    for p in pre:
        if cell == 3:
            rz, hn, npre = p
            rows.append(torch.cat([rz.grad, hn.grad, npre.grad], dim=1))
        else:
            rows.append(p[0].grad)
    width = rows[0].shape[1]
    last = torch.zeros(packed.shape[0], width, dtype=torch.float64)
    last[:, :hid] = h0.grad
    if cell == 2:
        last[:, hid:2 * hid] = c0.grad
    return torch.stack(rows + [last], dim=1)


def recurrent():
    n, steps, hid = 2, 4, 3
    for cell, gates in ((0, 1), (1, 1), (2, 4), (3, 3)):
        for reverse in (False, True):
            xproj, w_hh, b_hh = normal(n, steps, gates * hid), normal(gates * hid, hid, scale=0.5), normal(gates * hid)
            h0, c0 = normal(n, hid), normal(n, hid)
            ops = [xproj, w_hh, b_hh, h0] + ([c0] if cell == 2 else [])
            leaves = [tt(x).requires_grad_() for x in ops]
            packed, pre = recurrence_reference(cell, leaves[0], leaves[1], leaves[2], leaves[3],
                                               leaves[4] if cell == 2 else None, reverse)
            name = f"c{cell}{'.reverse' if reverse else ''}"
            case(f"recurrence.{name}", "recurrence", ops, result("f32", packed.detach()), cell=cell, reverse=reverse)
            # The backward loop in f64, from the exact packed result.
            dpacked = normal(*packed.shape)
            expect = recurrence_grad_reference(cell, packed, tt(dpacked), pre, leaves[3],
                                               leaves[4] if cell == 2 else None, hid)
            grad_ops = [f64(packed.detach().numpy()), f64(dpacked[1]), f64(w_hh[1]), f64(h0[1])] + \
                ([f64(c0[1])] if cell == 2 else [])
            case(f"recurrence_grad.{name}", "recurrence_grad", grad_ops, f64(expect.numpy()), cell=cell,
                 reverse=reverse)


# --- output ---------------------------------------------------------------------------------

# --- convolution ----------------------------------------------------------------------------

def convolution():
    """conv and its two gradients by torch autograd (F.conv1d/2d/3d in float64; asymmetric padding
    as an F.pad of x first)."""
    convs = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}

    def run(xs, ws, stride, pb, pa, dil, groups):
        x = torch.from_numpy(np.asarray(xs[1], np.float64)).requires_grad_()
        w = torch.from_numpy(np.asarray(ws[1], np.float64)).requires_grad_()
        pads = []
        for b_, a_ in zip(reversed(pb), reversed(pa)):
            pads += [b_, a_]
        y = convs[len(stride)](F.pad(x, pads), w, stride=stride, dilation=dil, groups=groups)
        return x, w, y

    def attrs(stride, pb, pa, dil, groups):
        return dict(stride=list(stride), pad_before=list(pb), pad_after=list(pa), dilation=list(dil), groups=groups)

    configs = [
        ("2d_pad1", (2, 3, 5, 5), (4, 3, 3, 3), (1, 1), (1, 1), (1, 1), (1, 1), 1),
        ("2d_stride2_asym_dilated_groups", (2, 4, 7, 6), (6, 2, 3, 2), (2, 1), (1, 0), (0, 2), (2, 1), 2),
        ("2d_depthwise", (1, 3, 6, 6), (3, 1, 3, 3), (1, 1), (1, 1), (1, 1), (1, 1), 3),
        ("2d_pointwise_stride2", (2, 4, 5, 5), (3, 4, 1, 1), (2, 2), (0, 0), (0, 0), (1, 1), 1),
        ("1d_stride3_dilation2", (2, 3, 11), (2, 3, 3), (3,), (2,), (1,), (2,), 1),
        ("3d", (1, 2, 4, 4, 3), (2, 2, 2, 3, 2), (1, 2, 1), (0, 1, 1), (1, 0, 0), (1, 1, 1), 1),
    ]
    for name, xshape, wshape, stride, pb, pa, dil, groups in configs:
        xs, ws = normal(*xshape), normal(*wshape, scale=0.5)
        x, w, y = run(xs, ws, stride, pb, pa, dil, groups)
        at = attrs(stride, pb, pa, dil, groups)
        case(f"conv.{name}", "conv", [xs, ws], result("f32", y.detach()), **at)
        dys = normal(*y.shape)
        y.backward(torch.from_numpy(np.asarray(dys[1], np.float64)))
        case(f"conv_input_grad.{name}", "conv_input_grad", [dys, ws], result("f32", x.grad), **at)
        case(f"conv_weight_grad.{name}", "conv_weight_grad", [xs, dys], result("f32", w.grad), **at)
    # f64 stays unrounded.
    xs, ws = f64(RNG.standard_normal((1, 2, 4, 4))), f64(RNG.standard_normal((2, 2, 3, 3)))
    x, w, y = run(xs, ws, (1, 1), (1, 1), (1, 1), (1, 1), 1)
    case("conv.f64", "conv", [xs, ws], f64(y.detach().numpy()), **attrs((1, 1), (1, 1), (1, 1), (1, 1), 1))


def fmt_attr(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (list, tuple)):
        return " ".join(str(int(e)) for e in v)
    if isinstance(v, float):
        return repr(v)
    return str(v)


def fmt_tensor(tag, x):
    dtype, a = x
    a = np.asarray(a)
    head = [tag, dtype, str(a.ndim)] + [str(d) for d in a.shape]
    if dtype == "i32":
        vals = [str(int(v)) for v in a.ravel()]
    else:
        vals = [repr(float(v)) for v in a.ravel()]
    return " ".join(head + vals)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: gen_ops.py OUTDIR")
    for section in (sources, unary, binary, reductions, matmul, movement, pooling, convolution, recurrent):
        section()
    names = [c[0] for c in CASES]
    assert len(names) == len(set(names)), "case names must be unique"
    os.makedirs(sys.argv[1], exist_ok=True)
    path = os.path.join(sys.argv[1], "interp_ops.txt")
    with open(path + ".tmp", "w") as f:
        f.write("# expected values for test_interp_ops, written by tests/oracle/gen_ops.py\n")
        for name, op, attrs, operands, expect in CASES:
            f.write(f"case {name} {op}\n")
            for k, v in attrs.items():
                f.write(f"attr {k} {fmt_attr(v)}\n")
            for x in operands:
                f.write(fmt_tensor("operand", x) + "\n")
            f.write(fmt_tensor("expect", expect) + "\nend\n")
    os.replace(path + ".tmp", path)


if __name__ == "__main__":
    main()
