/*
 * test_codegen.c: the LLVM side of codegen — the module's text names the kernels and entry
 * points and parses back into a module LLVM verifies; assembly and a PIC object file are written;
 * the target is the host CPU with its features; the arena layout aliases what it may and nothing
 * else; compile times are reported; and failures come back as gc_error values.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <llvm-c/Analysis.h>
#include <llvm-c/Core.h>
#include <llvm-c/IRReader.h>

#include "codegen/codegen.h"
#include "ir/build.h"
#include "runtime/interp.h"
#include "runtime/jit.h"

static gc_type ty(gc_dtype dtype, int rank, int64_t d0, int64_t d1) {
    int64_t dims[2] = {d0, d1};
    return gc_type_make(dtype, rank, dims);
}

static gc_node *named(gc_builder *b, gc_op op, const char *name, gc_type t) {
    return gc_graph_make(b->graph, op, NULL, 0, NULL, &t, name, b->loc, b->err);
}

/* x[7,13] @ w[13,5], relu, a reshape of the product (shares its storage), a reshape of the
 * param (copied), a row sum; every output reported. */
typedef struct small_graph {
    gc_graph *g;
    gc_node *x, *w, *mm, *relu, *alias, *copy, *sum;
} small_graph;

static small_graph make_small(gc_error *err) {
    small_graph s;
    s.g = gc_graph_new("small");
    gc_builder b = {s.g, {"small.ir", 1, 1}, err};
    s.x = named(&b, GC_OP_INPUT, "x", ty(GC_F32, 2, 7, 13));
    s.w = named(&b, GC_OP_PARAM, "w", ty(GC_F32, 2, 13, 5));
    s.mm = gc_matmul(&b, s.x, s.w, false, false);
    s.relu = gc_unary(&b, GC_OP_RELU, s.mm);
    int64_t flat[1] = {35}, wflat[1] = {65};
    s.alias = gc_reshape(&b, s.relu, 1, flat);
    s.copy = gc_reshape(&b, s.w, 1, wflat);
    s.sum = gc_reduce(&b, GC_OP_SUM, s.alias, 0x1, false);
    assert_non_null(s.sum);
    assert_true(gc_graph_add_output(s.g, GC_OUTPUT_VALUE, "y", s.sum, err));
    assert_true(gc_graph_add_output(s.g, GC_OUTPUT_VALUE, "wflat", s.copy, err));
    return s;
}

static void test_llvm_ir_names_kernels_and_verifies(void **state) {
    (void)state;
    gc_error err = {0};
    small_graph s = make_small(&err);
    char *ir = gc_codegen_llvm_ir(s.g, &err);
    if (!ir) fail_msg("gc_codegen_llvm_ir: %s", err.message);
    /* The dumps show the executors' layout: the matmul runs in the relu's kernel (an epilogue). */
    const gc_node *with_kernel[] = {s.relu, s.copy, s.sum};
    for (int i = 0; i < 3; i++) {
        char want[64];
        snprintf(want, sizeof want, "void @k%d(ptr noalias", with_kernel[i]->id);
        if (!strstr(ir, want)) fail_msg("no kernel for %%%d in:\n%s", with_kernel[i]->id, ir);
    }
    /* Sources, the aliasing reshape and the fused matmul have no kernel of their own. */
    const gc_node *without[] = {s.x, s.w, s.alias, s.mm};
    for (int i = 0; i < 4; i++) {
        char unwanted[32];
        snprintf(unwanted, sizeof unwanted, "@k%d(", without[i]->id);
        assert_null(strstr(ir, unwanted));
    }
    assert_non_null(strstr(ir, "define void @gc_step(ptr"));
    assert_non_null(strstr(ir, "define void @gc_init(ptr"));
    /* Five columns are too narrow for gradc's GEMM: OpenBLAS's. */
    assert_non_null(strstr(ir, "call void @cblas_sgemm(i32 101, i32 111, i32 111, i32 7, i32 5, i32 13"));
    assert_null(strstr(ir, "@gc_sgemm"));
    assert_non_null(strstr(ir, "target triple"));

    /* The text is a module LLVM reads back and verifies. */
    LLVMContextRef ctx = LLVMContextCreate();
    LLVMMemoryBufferRef buf = LLVMCreateMemoryBufferWithMemoryRangeCopy(ir, strlen(ir), "small.ll");
    LLVMModuleRef mod = NULL;
    char *msg = NULL;
    if (LLVMParseIRInContext(ctx, buf, &mod, &msg)) fail_msg("LLVM cannot parse the IR: %s", msg);
    assert_false(LLVMVerifyModule(mod, LLVMReturnStatusAction, &msg));
    LLVMDisposeMessage(msg);
    LLVMDisposeModule(mod);
    LLVMContextDispose(ctx);
    free(ir);
    gc_graph_free(s.g);
}

/* A product 16 or more columns wide calls gc_sgemm when it is linked (it is named weakly), else
 * OpenBLAS, with cblas_sgemm's arguments. */
static void test_wide_matmul_calls_gc_sgemm(void **state) {
    (void)state;
    gc_error err = {0};
    gc_graph *g = gc_graph_new("wide");
    gc_builder b = {g, {"wide.ir", 1, 1}, &err};
    gc_node *x = named(&b, GC_OP_INPUT, "x", ty(GC_F32, 2, 7, 13));
    gc_node *w = named(&b, GC_OP_PARAM, "w", ty(GC_F32, 2, 13, 40));
    gc_node *mm = gc_matmul(&b, x, w, false, false);
    assert_non_null(mm);
    assert_true(gc_graph_add_output(g, GC_OUTPUT_VALUE, "y", mm, &err));
    char *ir = gc_codegen_llvm_ir(g, &err);
    if (!ir) fail_msg("gc_codegen_llvm_ir: %s", err.message);
    assert_non_null(strstr(ir, "declare extern_weak void @gc_sgemm(i32, i32, i32, i32, i32, i32, float, ptr"));
    assert_non_null(strstr(ir, "ptr @cblas_sgemm, ptr @gc_sgemm"));
    assert_non_null(strstr(ir, "call void %sgemm(i32 101, i32 111, i32 111, i32 7, i32 40, i32 13"));
    free(ir);
    gc_graph_free(g);
}

/* A batch of GEMMs with an epilogue (attention's scores plus a mask) is split over the pool by
 * matrices, the epilogue with them, and so is a batch without one: each gets a task function
 * (t<kernel>) that gc_step hands to gc_pool_run. */
static void test_batched_gemms_split_by_matrix(void **state) {
    (void)state;
    gc_error err = {0};
    gc_graph *g = gc_graph_new("batched");
    gc_builder b = {g, {"batched.ir", 1, 1}, &err};
    int64_t qd[4] = {2, 4, 32, 16}, md[2] = {32, 32};
    gc_type qt = gc_type_make(GC_F32, 4, qd), mt = gc_type_make(GC_F32, 2, md);
    gc_node *q = named(&b, GC_OP_INPUT, "q", qt), *k = named(&b, GC_OP_INPUT, "k", qt);
    gc_node *mask = named(&b, GC_OP_INPUT, "mask", mt);
    gc_node *scores = gc_matmul(&b, q, k, false, true);
    gc_node *masked = gc_binary(&b, GC_OP_ADD, scores, mask);
    gc_node *mixed = gc_matmul(&b, masked, k, false, false);
    assert_non_null(mixed);
    assert_true(gc_graph_add_output(g, GC_OUTPUT_VALUE, "y", mixed, &err));
    char *ir = gc_codegen_llvm_ir(g, &err);
    if (!ir) fail_msg("gc_codegen_llvm_ir: %s", err.message);
    char want[64];
    snprintf(want, sizeof want, "define internal void @tk%d(", masked->id);
    if (!strstr(ir, want)) fail_msg("the masked scores' kernel is not split:\n%s", ir);
    snprintf(want, sizeof want, "define internal void @tk%d(", mixed->id);
    if (!strstr(ir, want)) fail_msg("the batched product is not split:\n%s", ir);
    free(ir);
    gc_graph_free(g);
}

/* The same when q and k are views of one projection (passes/plan.h): the GEMMs' batch nest then
 * keeps the batch and head dims apart, and the scores with their mask still split, along the
 * batch. */
static void test_batched_gemms_of_views_split(void **state) {
    (void)state;
    gc_error err = {0};
    gc_graph *g = gc_graph_new("views");
    gc_builder b = {g, {"views.ir", 1, 1}, &err};
    int64_t xd[3] = {4, 32, 32}, md[2] = {32, 32}, split[4] = {4, 32, 2, 8};
    gc_node *x = gc_unary(&b, GC_OP_TANH, named(&b, GC_OP_INPUT, "x", gc_type_make(GC_F32, 3, xd)));
    gc_node *mask = named(&b, GC_OP_INPUT, "mask", gc_type_make(GC_F32, 2, md));
    int perm[4] = {0, 2, 1, 3};
    gc_node *q = gc_permute(&b, gc_reshape(&b, gc_slice(&b, x, 2, 0, 16), 4, split), perm);
    gc_node *k = gc_permute(&b, gc_reshape(&b, gc_slice(&b, x, 2, 16, 32), 4, split), perm);
    gc_node *masked = gc_binary(&b, GC_OP_ADD, gc_matmul(&b, q, k, false, true), mask);
    assert_non_null(masked);
    assert_true(gc_graph_add_output(g, GC_OUTPUT_VALUE, "y", masked, &err));
    char *ir = gc_codegen_llvm_ir(g, &err);
    if (!ir) fail_msg("gc_codegen_llvm_ir: %s", err.message);
    char want[64];
    snprintf(want, sizeof want, "define internal void @tk%d(", masked->id);
    if (!strstr(ir, want)) fail_msg("the masked scores' kernel is not split:\n%s", ir);
    /* No kernel copies q or k. */
    snprintf(want, sizeof want, "@k%d(", q->id);
    assert_null(strstr(ir, want));
    free(ir);
    gc_graph_free(g);
}

static void test_assembly_and_object_file(void **state) {
    (void)state;
    gc_error err = {0};
    small_graph s = make_small(&err);
    char *text = gc_codegen_asm(s.g, &err);
    if (!text) fail_msg("gc_codegen_asm: %s", err.message);
    assert_non_null(strstr(text, "gc_step:"));
    char label[32];
    snprintf(label, sizeof label, "k%d:", s.relu->id);
    assert_non_null(strstr(text, label));
    assert_non_null(strstr(text, "cblas_sgemm"));
    free(text);

    char path[] = "/tmp/gradc_codegen_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    if (!gc_codegen_emit_object(s.g, path, &err)) fail_msg("gc_codegen_emit_object: %s", err.message);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static unsigned char bytes[1 << 20];
    size_t size = fread(bytes, 1, sizeof bytes, f);
    fclose(f);
    unlink(path);
    /* A relocatable ELF file (e_type 1) that defines gc_step. */
    assert_true(size > 64);
    assert_memory_equal(bytes, "\177ELF", 4);
    assert_int_equal(bytes[16] | bytes[17] << 8, 1);
    bool found = false;
    for (size_t i = 0; i + 8 <= size && !found; i++) found = memcmp(bytes + i, "gc_step", 8) == 0;
    assert_true(found);
    gc_graph_free(s.g);
}

static void test_host_target(void **state) {
    (void)state;
    gc_error err = {0};
    char *cpu = gc_codegen_host_cpu(&err), *features = gc_codegen_host_features(&err);
    assert_non_null(cpu);
    assert_non_null(features);
    assert_true(strlen(cpu) > 0);
    FILE *f = fopen("/proc/cpuinfo", "r");
    bool avx512 = false;
    char line[8192];
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "flags", 5) && strstr(line, " avx512f")) avx512 = true;
    if (f) fclose(f);
    bool has = strstr(features, "+avx512f") != NULL;
    print_message("host CPU %s, avx512f %s\n", cpu, has ? "yes" : "no");
    free(cpu);
    if (!avx512) {
        free(features);
        skip();
    }
    assert_true(has);
    free(features);
}

static void test_layout(void **state) {
    (void)state;
    gc_error err = {0};
    small_graph s = make_small(&err);
    gc_layout l;
    assert_true(gc_layout_plan(s.g, &l, &err));
    assert_int_equal(l.num_nodes, s.g->num_nodes);
    assert_true(l.aliased[s.alias->id]);
    assert_int_equal(l.offsets[s.alias->id], l.offsets[s.relu->id]);
    assert_false(l.aliased[s.copy->id]);
    /* Every other node has its own 64-byte-aligned region inside the arena. */
    for (int i = 0; i < s.g->num_nodes; i++) {
        const gc_node *n = s.g->nodes[i];
        int64_t bytes = gc_type_numel(&n->type) * 4;
        assert_int_equal(l.offsets[i] % 64, 0);
        assert_true(l.offsets[i] + bytes <= l.size);
        for (int k = 0; k < i; k++) {
            if (l.aliased[i] || l.aliased[k]) continue;
            int64_t kb = gc_type_numel(&s.g->nodes[k]->type) * 4;
            assert_true(l.offsets[i] >= l.offsets[k] + kb || l.offsets[k] >= l.offsets[i] + bytes);
        }
    }
    gc_layout_free(&l);
    gc_graph_free(s.g);
}

static void test_errors_are_values(void **state) {
    (void)state;
    gc_error err = {0};
    assert_null(gc_codegen_llvm_ir(NULL, &err));
    assert_int_equal(err.code, GC_ERR_INTERNAL);

    small_graph s = make_small(&err);
    memset(&err, 0, sizeof err);
    assert_false(gc_codegen_emit_object(s.g, "/nonexistent-gradc-dir/out.o", &err));
    assert_int_equal(err.code, GC_ERR_IO);
    assert_non_null(strstr(err.message, "/nonexistent-gradc-dir/out.o"));

    gc_jit *j = gc_jit_new(s.g, &err);
    if (!j) fail_msg("gc_jit_new: %s", err.message);
    assert_null(gc_jit_output(j, GC_OUTPUT_VALUE, "y")); /* not run yet */
    memset(&err, 0, sizeof err);
    assert_false(gc_jit_apply_updates(j, &err));
    assert_int_equal(err.code, GC_ERR_USER);
    memset(&err, 0, sizeof err);
    assert_false(gc_jit_run(j, &err));
    assert_int_equal(err.code, GC_ERR_USER);
    assert_non_null(strstr(err.message, "input 'x' has no value"));

    float data[7 * 13] = {0};
    gc_tensor t = {GC_F32, 2, {7, 13}, data};
    memset(&err, 0, sizeof err);
    assert_false(gc_jit_set(j, "nope", &t, &err));
    assert_int_equal(err.code, GC_ERR_USER);
    assert_non_null(strstr(err.message, "'nope'"));
    t.shape[1] = 12;
    memset(&err, 0, sizeof err);
    assert_false(gc_jit_set(j, "x", &t, &err));
    assert_int_equal(err.code, GC_ERR_USER);
    assert_non_null(strstr(err.message, "f32[7, 13]"));
    gc_jit_free(j);
    gc_graph_free(s.g);

    /* A matrix too large for a BLAS int: rejected while generating code, naming the node. */
    gc_graph *g = gc_graph_new("huge");
    gc_builder b = {g, {"huge.ir", 3, 1}, &err};
    memset(&err, 0, sizeof err);
    gc_node *a = named(&b, GC_OP_INPUT, "a", ty(GC_F32, 2, 1, (int64_t)1 << 32));
    gc_node *c = named(&b, GC_OP_INPUT, "c", ty(GC_F32, 2, (int64_t)1 << 32, 1));
    gc_node *mm = gc_matmul(&b, a, c, false, false);
    assert_non_null(mm);
    assert_null(gc_codegen_llvm_ir(g, &err));
    assert_int_equal(err.code, GC_ERR_USER);
    assert_non_null(strstr(err.message, "BLAS"));
    assert_non_null(strstr(err.message, "matmul"));
    gc_graph_free(g);
}

/* A 100-node graph (an MLP-like chain of matmuls, elementwise ops and reductions): compiles,
 * reports each phase's time, and agrees with the interpreter. */
static void test_compile_times_100_nodes(void **state) {
    (void)state;
    gc_error err = {0};
    gc_graph *g = gc_graph_new("chain");
    gc_builder b = {g, {"chain.ir", 1, 1}, &err};
    gc_node *h = named(&b, GC_OP_INPUT, "x", ty(GC_F32, 2, 64, 32));
    int layer = 0;
    while (g->num_nodes < 100) {
        char name[16];
        snprintf(name, sizeof name, "w%d", layer++);
        gc_node *w = named(&b, GC_OP_PARAM, name, ty(GC_F32, 2, 32, 32));
        h = gc_matmul(&b, h, w, false, false);
        h = gc_unary(&b, GC_OP_TANH, h);
        gc_node *m = gc_reduce(&b, GC_OP_MEAN, h, 0x2, true);
        h = gc_binary(&b, GC_OP_SUB, h, m);
        h = gc_binary(&b, GC_OP_MUL, h, gc_unary(&b, GC_OP_SIGMOID, h));
        h = gc_axis_op(&b, GC_OP_SOFTMAX, h, 1);
        h = gc_add_scalar(&b, h, 0.5);
    }
    assert_non_null(h);
    assert_true(gc_graph_add_output(g, GC_OUTPUT_VALUE, "y", h, &err));
    gc_jit *j = gc_jit_new(g, &err);
    if (!j) fail_msg("gc_jit_new: %s", err.message);
    const gc_codegen_times *t = gc_jit_times(j);
    int kernels = 0;
    for (int i = 0; i < g->num_nodes; i++)
        if (!(gc_op_table[g->nodes[i]->op].flags & GC_FLAG_NAMED)) kernels++;
    assert_int_equal(t->kernels, kernels);
    /* Kernels found in the kernel cache (a warm GRADC_CACHE_DIR) are not optimised again. */
    assert_true(t->emit_ms > 0 && (t->compiled == 0 || t->optimize_ms > 0) && t->jit_ms > 0);
    assert_true(t->total_ms >= t->emit_ms + t->verify_ms + t->optimize_ms + t->jit_ms - 1e-6);
    print_message("%d nodes, %d kernels: emit %.1f ms, verify %.1f ms, O3 %.1f ms, machine code %.1f ms, total %.1f ms\n",
                  g->num_nodes, t->kernels, t->emit_ms, t->verify_ms, t->optimize_ms, t->jit_ms, t->total_ms);

    /* Same answers as the interpreter, after gc_init filled the constants. */
    gc_interp *it = gc_interp_new(g, GC_INTERP_F32, &err);
    assert_non_null(it);
    for (int i = 0; i < g->num_nodes; i++) {
        const gc_node *n = g->nodes[i];
        if (!(gc_op_table[n->op].flags & GC_FLAG_NAMED)) continue;
        int64_t count = gc_type_numel(&n->type);
        float *data = malloc(sizeof *data * (size_t)count);
        assert_non_null(data);
        for (int64_t k = 0; k < count; k++) data[k] = (float)((k * 7 + i * 3) % 17 - 8) / 16.0f;
        gc_tensor v = {GC_F32, 2, {n->type.dims[0], n->type.dims[1]}, data};
        assert_true(gc_interp_set(it, n->name, &v, &err));
        assert_true(gc_jit_set(j, n->name, &v, &err));
        free(data);
    }
    assert_true(gc_interp_run(it, &err));
    assert_true(gc_jit_run(j, &err));
    const double *want = gc_interp_output(it, GC_OUTPUT_VALUE, "y");
    const float *got = gc_jit_output(j, GC_OUTPUT_VALUE, "y");
    assert_non_null(got);
    for (int64_t k = 0; k < 64 * 32; k++)
        if (fabs(want[k] - got[k]) > 1e-5 + 1e-4 * fabs(want[k]))
            fail_msg("y[%lld]: interpreter %.9g, JIT %.9g", (long long)k, want[k], got[k]);
    gc_interp_free(it);
    gc_jit_free(j);
    gc_graph_free(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_llvm_ir_names_kernels_and_verifies),
        cmocka_unit_test(test_wide_matmul_calls_gc_sgemm),
        cmocka_unit_test(test_batched_gemms_split_by_matrix),
        cmocka_unit_test(test_batched_gemms_of_views_split),
        cmocka_unit_test(test_assembly_and_object_file),
        cmocka_unit_test(test_host_target),
        cmocka_unit_test(test_layout),
        cmocka_unit_test(test_errors_are_values),
        cmocka_unit_test(test_compile_times_100_nodes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
