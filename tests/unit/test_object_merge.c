/*
 * test_object_merge.c: merging relocatable objects (codegen/object_merge.c), the step that makes
 * one object file of separately compiled kernels. Two modules compiled by LLVM for the host, with
 * what kernels carry (constants in mergeable sections reached through local symbols, a table of
 * function pointers relocated against another object's functions, calls across objects), are
 * merged and run in LLVM's JIT linker: every function must compute what it computed alone, the
 * names not kept must have become local, two strong definitions of one name are an error, and
 * bytes that are not an ELF64 object are refused as unsupported (the caller's fallback).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <llvm-c/IRReader.h>
#include <llvm-c/LLJIT.h>
#include <llvm-c/Orc.h>

#include "codegen/cg.h"

/* Calls through a table of pointers to the other object's functions; a constant table in the
 * section module_b's goes to (so b's lands after it); float constants. */
static const char *module_a =
    "@tab = internal constant [2 x ptr] [ptr @g, ptr @h]\n"
    "@ka = internal constant [4 x i32] [i32 1, i32 2, i32 3, i32 4]\n"
    "define i32 @pick_a(i32 %x) {\n"
    "  %m = and i32 %x, 3\n"
    "  %p = getelementptr [4 x i32], ptr @ka, i64 0, i32 %m\n"
    "  %v = load i32, ptr %p\n"
    "  ret i32 %v\n"
    "}\n"
    "declare i32 @g(i32)\n"
    "declare i32 @h(i32)\n"
    "define i32 @f(i32 %i, i32 %x) {\n"
    "  %p = getelementptr [2 x ptr], ptr @tab, i64 0, i32 %i\n"
    "  %fn = load ptr, ptr %p\n"
    "  %r = call i32 %fn(i32 %x)\n"
    "  ret i32 %r\n"
    "}\n"
    "define i32 @direct(i32 %x) {\n"
    "  %r = call i32 @g(i32 %x)\n"
    "  ret i32 %r\n"
    "}\n"
    "define float @scale_a(float %x) {\n"
    "  %y = fmul float %x, 1.25\n"
    "  %z = fadd float %y, 0.5\n"
    "  ret float %z\n"
    "}\n";

/* A constant table and other float constants, at the same section names as module_a's. */
static const char *module_b =
    "@k = internal constant [4 x i32] [i32 10, i32 20, i32 30, i32 40]\n"
    "define i32 @g(i32 %x) {\n"
    "  %m = and i32 %x, 3\n"
    "  %p = getelementptr [4 x i32], ptr @k, i64 0, i32 %m\n"
    "  %v = load i32, ptr %p\n"
    "  %r = add i32 %v, %x\n"
    "  ret i32 %r\n"
    "}\n"
    "define i32 @h(i32 %x) {\n"
    "  %r = mul i32 %x, 3\n"
    "  ret i32 %r\n"
    "}\n"
    "define float @scale_b(float %x) {\n"
    "  %y = fmul float %x, 0.75\n"
    "  %z = fadd float %y, 0.25\n"
    "  ret float %z\n"
    "}\n";

/* The object file of an IR text for the host (malloc'd). */
static char *compile_ir(const char *ir, size_t *len) {
    gc_error err = {0};
    LLVMTargetMachineRef tm = cg_host_machine(&err);
    assert_non_null(tm);
    LLVMContextRef ctx = LLVMContextCreate();
    LLVMMemoryBufferRef src = LLVMCreateMemoryBufferWithMemoryRangeCopy(ir, strlen(ir), "test");
    LLVMModuleRef mod = NULL;
    char *msg = NULL;
    if (LLVMParseIRInContext(ctx, src, &mod, &msg)) fail_msg("IR: %s", msg);
    char *triple = LLVMGetTargetMachineTriple(tm);
    LLVMSetTarget(mod, triple);
    LLVMDisposeMessage(triple);
    LLVMMemoryBufferRef buf = NULL;
    if (LLVMTargetMachineEmitToMemoryBuffer(tm, mod, LLVMObjectFile, &msg, &buf)) fail_msg("emit: %s", msg);
    *len = LLVMGetBufferSize(buf);
    char *object = malloc(*len);
    assert_non_null(object);
    memcpy(object, LLVMGetBufferStart(buf), *len);
    LLVMDisposeMemoryBuffer(buf);
    LLVMDisposeModule(mod);
    LLVMContextDispose(ctx);
    LLVMDisposeTargetMachine(tm);
    return object;
}

static void test_merged_objects_run(void **state) {
    (void)state;
    size_t len_a, len_b;
    char *a = compile_ir(module_a, &len_a), *b = compile_ir(module_b, &len_b);
    cg_object_part parts[2] = {{a, len_a, "a"}, {b, len_b, "b"}};
    static const char *const keep[] = {"f", "direct", "scale_a", "scale_b", "pick_a"};
    char *merged = NULL;
    size_t merged_len = 0;
    gc_error err = {0};
    if (cg_object_merge(parts, 2, keep, 5, &merged, &merged_len, &err) != 1) fail_msg("merge: %s", err.message);

    LLVMOrcLLJITRef jit = NULL;
    LLVMErrorRef e = LLVMOrcCreateLLJIT(&jit, NULL);
    assert_null(e);
    LLVMMemoryBufferRef buf = LLVMCreateMemoryBufferWithMemoryRangeCopy(merged, merged_len, "merged");
    assert_null(LLVMOrcLLJITAddObjectFile(jit, LLVMOrcLLJITGetMainJITDylib(jit), buf));
    LLVMOrcExecutorAddress f = 0, direct = 0, scale_a = 0, scale_b = 0, pick_a = 0, g = 0;
    assert_null(LLVMOrcLLJITLookup(jit, &pick_a, "pick_a"));
    assert_null(LLVMOrcLLJITLookup(jit, &f, "f"));
    assert_null(LLVMOrcLLJITLookup(jit, &direct, "direct"));
    assert_null(LLVMOrcLLJITLookup(jit, &scale_a, "scale_a"));
    assert_null(LLVMOrcLLJITLookup(jit, &scale_b, "scale_b"));
    int (*call_f)(int, int) = (int (*)(int, int))(uintptr_t)f;
    int (*call_direct)(int) = (int (*)(int))(uintptr_t)direct;
    float (*call_a)(float) = (float (*)(float))(uintptr_t)scale_a;
    float (*call_b)(float) = (float (*)(float))(uintptr_t)scale_b;
    assert_int_equal(call_f(0, 5), 20 + 5); /* g(5) = k[1] + 5 */
    assert_int_equal(call_f(0, 2), 30 + 2);
    assert_int_equal(call_f(1, 5), 15);     /* h(5) */
    assert_int_equal(call_direct(7), 40 + 7);
    assert_true(call_a(2.0f) == 3.0f);
    int (*call_pick)(int) = (int (*)(int))(uintptr_t)pick_a;
    assert_int_equal(call_pick(2), 3);
    assert_true(call_b(2.0f) == 1.75f);
    /* g was not kept: a local symbol of the merged object. */
    e = LLVMOrcLLJITLookup(jit, &g, "g");
    assert_non_null(e);
    LLVMConsumeError(e);
    LLVMOrcDisposeLLJIT(jit);
    free(merged);
    free(a);
    free(b);
}

static void test_duplicate_definition_is_an_error(void **state) {
    (void)state;
    size_t len;
    char *a = compile_ir(module_b, &len);
    cg_object_part parts[2] = {{a, len, "one"}, {a, len, "two"}};
    char *merged = NULL;
    size_t merged_len = 0;
    gc_error err = {0};
    assert_int_equal(cg_object_merge(parts, 2, NULL, 0, &merged, &merged_len, &err), 0);
    assert_non_null(strstr(err.message, "defined twice"));
    assert_null(merged);
    free(a);
}

static void test_not_elf_is_unsupported(void **state) {
    (void)state;
    static const char junk[128] = "\x7f" "ELG not an object";
    size_t len;
    char *a = compile_ir(module_b, &len);
    cg_object_part parts[2] = {{a, len, "good"}, {junk, sizeof junk, "junk"}};
    char *merged = NULL;
    size_t merged_len = 0;
    gc_error err = {0};
    assert_int_equal(cg_object_merge(parts, 2, NULL, 0, &merged, &merged_len, &err), CG_MERGE_UNSUPPORTED);
    assert_non_null(strstr(err.message, "junk"));
    /* A truncated object too. */
    parts[1] = (cg_object_part){a, 40, "short"};
    assert_int_equal(cg_object_merge(parts, 2, NULL, 0, &merged, &merged_len, &err), CG_MERGE_UNSUPPORTED);
    assert_int_equal(cg_object_merge(parts, 0, NULL, 0, &merged, &merged_len, &err), CG_MERGE_UNSUPPORTED);
    assert_null(merged);
    free(a);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_merged_objects_run),
        cmocka_unit_test(test_duplicate_definition_is_an_error),
        cmocka_unit_test(test_not_elf_is_unsupported),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
