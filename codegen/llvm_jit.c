/*
 * llvm_jit.c: ORC LLJIT for a graph's kernels (compiled by codegen/program.c), and its entry points.
 *
 * The functions the kernels call — gc_sgemm, OpenBLAS gemm and the libm functions — are defined in the JIT
 * as absolute symbols taken from this process, so they resolve whether or not the executable
 * exports them dynamically; a process-symbol generator behind them covers what LLVM itself emits
 * calls to (memcpy, memset, the libm functions behind llvm.exp and friends).
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#include <llvm-c/Error.h>
#include <llvm-c/LLJIT.h>
#include <llvm-c/Orc.h>
#include <llvm-c/OrcEE.h>
#include <llvm-c/ExecutionEngine.h>

#include "codegen/cg.h"
#include "runtime/gemm.h"
#include "runtime/gemm_bf16.h"
#include "runtime/conv.h"
#include "runtime/parallel.h"
#include "runtime/profile.h"
#include "runtime/recurrent.h"
#include "runtime/step_hook.h"

struct gc_codegen_jit {
    LLVMOrcLLJITRef jit;
    cg_program program;
    gc_step_fn entries[3]; /* gc_codegen_jit_entries' trampolines, made on request */
};

/* What a trampoline of gc_codegen_jit_entries calls. */
void gc_codegen_program_entry(const cg_program *p, int32_t entry, char *arena, void *pool);
void gc_codegen_program_entry(const cg_program *p, int32_t entry, char *arena, void *pool) {
    cg_program_run(p, entry, arena, pool);
}

/* Fills err from an LLVM error (consuming it); returns 0. */
static int llvm_fail(LLVMErrorRef e, const char *what, gc_error *err) {
    char *msg = LLVMGetErrorMessage(e);
    gc_failf(err, GC_ERR_INTERNAL, "internal error: %s: %s", what, msg);
    LLVMDisposeErrorMessage(msg);
    return 0;
}

#define SYM(f) {#f, (LLVMOrcExecutorAddress)(uintptr_t)&f}
typedef struct extern_symbol {
    const char *name;
    LLVMOrcExecutorAddress address;
} extern_symbol;

static int define_externals(LLVMOrcLLJITRef jit, LLVMOrcJITDylibRef jd, gc_error *err) {
    const extern_symbol table[] = {
        SYM(gc_sgemm), SYM(gc_sgemm_ksplit), SYM(gc_sgemm_bf16), SYM(gc_sgemm_bf16_ksplit), SYM(cblas_sgemm), SYM(cblas_dgemm), SYM(erff), SYM(erf), SYM(erfcf), SYM(erfc), SYM(tanhf),
        SYM(tanh), SYM(log1pf), SYM(log1p), SYM(expf), SYM(exp), SYM(logf), SYM(log), SYM(sinf),
        SYM(sin), SYM(cosf), SYM(cos), SYM(powf), SYM(pow), SYM(gc_pool_run), SYM(gc_profile_tick), SYM(gc_step_hook),
        SYM(gc_conv_forward_f32), SYM(gc_conv_input_grad_f32), SYM(gc_conv_weight_grad_f32), SYM(gc_conv_forward_f64),
        SYM(gc_conv_input_grad_f64), SYM(gc_conv_weight_grad_f64),
        /* conv epilogues (codegen/fused.c) */
        SYM(gc_conv_forward_images_f32), SYM(gc_conv_input_grad_images_f32), SYM(gc_conv_forward_images_f64),
        SYM(gc_conv_input_grad_images_f64),
        SYM(gc_recurrence_f32), SYM(gc_recurrence_f64), SYM(gc_codegen_program_entry),
        SYM(gc_conv_forward_bf16), SYM(gc_conv_input_grad_bf16), SYM(gc_conv_weight_grad_bf16),
    };
    size_t count = sizeof table / sizeof table[0];
    LLVMOrcCSymbolMapPair pairs[sizeof table / sizeof table[0]];
    for (size_t i = 0; i < count; i++) {
        pairs[i].Name = LLVMOrcLLJITMangleAndIntern(jit, table[i].name);
        pairs[i].Sym.Address = table[i].address;
        pairs[i].Sym.Flags.GenericFlags = LLVMJITSymbolGenericFlagsExported | LLVMJITSymbolGenericFlagsCallable;
        pairs[i].Sym.Flags.TargetFlags = 0;
    }
    LLVMOrcMaterializationUnitRef mu = LLVMOrcAbsoluteSymbols(pairs, count);
    LLVMErrorRef e = LLVMOrcJITDylibDefine(jd, mu);
    if (e) {
        LLVMOrcDisposeMaterializationUnit(mu);
        return llvm_fail(e, "defining the runtime's symbols in the JIT", err);
    }
    LLVMOrcDefinitionGeneratorRef gen = NULL;
    e = LLVMOrcCreateDynamicLibrarySearchGeneratorForProcess(&gen, LLVMOrcLLJITGetGlobalPrefix(jit), NULL, NULL);
    if (e) return llvm_fail(e, "making the process's symbols visible to the JIT", err);
    LLVMOrcJITDylibAddGenerator(jd, gen);
    return 1;
}

/* With GRADC_PERF set, the linking layer reports each kernel to perf (`perf record -k 1`, then
 * `perf inject --jit`), so profiles name k<id> instead of raw addresses (docs/optimisation.md). */
static LLVMOrcObjectLayerRef perf_linking_layer(void *ctx, LLVMOrcExecutionSessionRef session, const char *triple) {
    (void)ctx;
    (void)triple;
    LLVMOrcObjectLayerRef layer = LLVMOrcCreateRTDyldObjectLinkingLayerWithSectionMemoryManager(session);
    LLVMJITEventListenerRef perf = LLVMCreatePerfJITEventListener();
    if (perf) LLVMOrcRTDyldObjectLinkingLayerRegisterJITEventListener(layer, perf);
    return layer;
}

static LLVMOrcLLJITRef make_jit(LLVMTargetMachineRef tm, gc_error *err) {
    LLVMOrcLLJITBuilderRef builder = LLVMOrcCreateLLJITBuilder();
    const char *perf = getenv("GRADC_PERF");
    if (perf && *perf && strcmp(perf, "0")) LLVMOrcLLJITBuilderSetObjectLinkingLayerCreator(builder, perf_linking_layer, NULL);
    /* Takes tm (and destroys it); the builder takes the JTMB; LLJIT creation takes the builder. */
    LLVMOrcLLJITBuilderSetJITTargetMachineBuilder(builder, LLVMOrcJITTargetMachineBuilderCreateFromTargetMachine(tm));
    LLVMOrcLLJITRef jit = NULL;
    LLVMErrorRef e = LLVMOrcCreateLLJIT(&jit, builder);
    if (e) {
        llvm_fail(e, "starting LLVM's JIT", err);
        return NULL;
    }
    return jit;
}

static gc_step_fn lookup(LLVMOrcLLJITRef jit, const char *name, gc_error *err) {
    LLVMOrcExecutorAddress addr = 0;
    LLVMErrorRef e = LLVMOrcLLJITLookup(jit, &addr, name);
    if (e) {
        llvm_fail(e, name, err);
        return NULL;
    }
    /* The JIT hands back an address; the entry point's type is fixed by module.c. */
    return (gc_step_fn)(uintptr_t)addr;
}

gc_codegen_jit *gc_codegen_jit_compile(const gc_graph *g, const gc_layout *layout, gc_codegen_times *times,
                                       gc_error *err) {
    return gc_codegen_jit_compile_profiled(g, layout, NULL, times, err);
}

gc_codegen_jit *gc_codegen_jit_compile_profiled(const gc_graph *g, const gc_layout *layout, void *profile,
                                                gc_codegen_times *times, gc_error *err) {
    return gc_codegen_jit_compile_hooked(g, layout, profile, NULL, times, err);
}

gc_codegen_jit *gc_codegen_jit_compile_hooked(const gc_graph *g, const gc_layout *layout, void *profile, void *hooks,
                                              gc_codegen_times *times, gc_error *err) {
    gc_codegen_times t = {0};
    if (!g || !layout || layout->num_nodes != g->num_nodes)
        return gc_failf(err, GC_ERR_INTERNAL, "internal error: codegen: the layout is not of this graph"), NULL;
    LLVMTargetMachineRef tm = cg_host_machine(err);
    if (!tm) return NULL;
    gc_codegen_jit *j = calloc(1, sizeof *j);
    if (!j) {
        LLVMDisposeTargetMachine(tm);
        return gc_failf(err, GC_ERR_MEMORY, "out of memory"), NULL;
    }
    j->jit = make_jit(tm, err);
    if (!j->jit || !define_externals(j->jit, LLVMOrcLLJITGetMainJITDylib(j->jit), err) ||
        !cg_program_build(j->jit, g, layout, profile, hooks, &j->program, &t, err)) {
        gc_codegen_jit_free(j);
        return NULL;
    }
    if (times) *times = t;
    return j;
}

void gc_codegen_jit_run(const gc_codegen_jit *jit, gc_codegen_entry entry, char *arena, void *pool) {
    cg_program_run(&jit->program, (int)entry, arena, pool);
}

/* Three functions void name(ptr arena, ptr pool) calling gc_codegen_program_entry with this
 * program's address as a constant. */
int gc_codegen_jit_entries(gc_codegen_jit *jit, gc_step_fn entries[3], gc_error *err) {
    static const char *const names[3] = {"gc_init", "gc_step", "gc_update"};
    if (!jit->entries[0]) {
        LLVMOrcThreadSafeContextRef tsc = LLVMOrcCreateNewThreadSafeContext();
        LLVMContextRef ctx = LLVMOrcThreadSafeContextGetContext(tsc);
        LLVMModuleRef mod = LLVMModuleCreateWithNameInContext("gradc-entries", ctx);
        LLVMBuilderRef b = LLVMCreateBuilderInContext(ctx);
        LLVMTypeRef ptr = LLVMPointerTypeInContext(ctx, 0), i32 = LLVMInt32TypeInContext(ctx);
        LLVMTypeRef i64 = LLVMInt64TypeInContext(ctx), v = LLVMVoidTypeInContext(ctx);
        LLVMTypeRef run_params[4] = {ptr, i32, ptr, ptr}, entry_params[2] = {ptr, ptr};
        LLVMTypeRef run_type = LLVMFunctionType(v, run_params, 4, 0);
        LLVMValueRef run = LLVMAddFunction(mod, "gc_codegen_program_entry", run_type);
        LLVMValueRef program = LLVMConstIntToPtr(LLVMConstInt(i64, (unsigned long long)(uintptr_t)&jit->program, 0), ptr);
        for (int e = 0; e < 3; e++) {
            LLVMValueRef fn = LLVMAddFunction(mod, names[e], LLVMFunctionType(v, entry_params, 2, 0));
            LLVMPositionBuilderAtEnd(b, LLVMAppendBasicBlockInContext(ctx, fn, "entry"));
            LLVMValueRef args[4] = {program, LLVMConstInt(i32, (unsigned long long)e, 0), LLVMGetParam(fn, 0),
                                    LLVMGetParam(fn, 1)};
            LLVMBuildCall2(b, run_type, run, args, 4, "");
            LLVMBuildRetVoid(b);
        }
        LLVMDisposeBuilder(b);
        LLVMOrcThreadSafeModuleRef tsm = LLVMOrcCreateNewThreadSafeModule(mod, tsc);
        LLVMOrcDisposeThreadSafeContext(tsc);
        LLVMErrorRef e = LLVMOrcLLJITAddLLVMIRModule(jit->jit, LLVMOrcLLJITGetMainJITDylib(jit->jit), tsm);
        if (e) {
            LLVMOrcDisposeThreadSafeModule(tsm);
            return llvm_fail(e, "adding the entry points to the JIT", err);
        }
        gc_step_fn found[3];
        for (int k = 0; k < 3; k++)
            if (!(found[k] = lookup(jit->jit, names[k], err))) return 0;
        memcpy(jit->entries, found, sizeof found);
    }
    memcpy(entries, jit->entries, sizeof jit->entries);
    return 1;
}

void gc_codegen_jit_free(gc_codegen_jit *jit) {
    if (!jit) return;
    cg_program_free(&jit->program);
    if (jit->jit) {
        LLVMErrorRef e = LLVMOrcDisposeLLJIT(jit->jit);
        if (e) LLVMConsumeError(e);
    }
    free(jit);
}
