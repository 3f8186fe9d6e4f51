/*
 * llvm_jit.c: the optimised module into ORC LLJIT, and its two entry points out.
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
#include "runtime/conv.h"
#include "runtime/parallel.h"
#include "runtime/profile.h"
#include "runtime/recurrent.h"
#include "runtime/step_hook.h"

struct gc_codegen_jit {
    LLVMOrcLLJITRef jit;
    gc_step_fn init, step, update;
};

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
        SYM(gc_sgemm), SYM(cblas_sgemm), SYM(cblas_dgemm), SYM(erff), SYM(erf), SYM(erfcf), SYM(erfc), SYM(tanhf),
        SYM(tanh), SYM(log1pf), SYM(log1p), SYM(expf), SYM(exp), SYM(logf), SYM(log), SYM(sinf),
        SYM(sin), SYM(cosf), SYM(cos), SYM(powf), SYM(pow), SYM(gc_pool_run), SYM(gc_profile_tick), SYM(gc_step_hook),
        SYM(gc_conv_forward_f32), SYM(gc_conv_input_grad_f32), SYM(gc_conv_weight_grad_f32), SYM(gc_conv_forward_f64),
        SYM(gc_conv_input_grad_f64), SYM(gc_conv_weight_grad_f64),
        SYM(gc_recurrence_f32), SYM(gc_recurrence_f64),
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
    LLVMTargetMachineRef tm = cg_host_machine(err);
    if (!tm) return NULL;
    gc_codegen_jit *j = calloc(1, sizeof *j);
    if (!j) {
        LLVMDisposeTargetMachine(tm);
        return gc_failf(err, GC_ERR_MEMORY, "out of memory"), NULL;
    }
    LLVMOrcThreadSafeContextRef tsc = LLVMOrcCreateNewThreadSafeContext();
    LLVMModuleRef mod = cg_build_module(LLVMOrcThreadSafeContextGetContext(tsc), g, layout, tm, profile, hooks, &t, err);
    if (!mod) {
        LLVMOrcDisposeThreadSafeContext(tsc);
        LLVMDisposeTargetMachine(tm);
        free(j);
        return NULL;
    }
    double start = cg_now_ms();
    j->jit = make_jit(tm, err);
    if (!j->jit || !define_externals(j->jit, LLVMOrcLLJITGetMainJITDylib(j->jit), err)) {
        LLVMDisposeModule(mod);
        LLVMOrcDisposeThreadSafeContext(tsc);
        gc_codegen_jit_free(j);
        return NULL;
    }
    LLVMOrcThreadSafeModuleRef tsm = LLVMOrcCreateNewThreadSafeModule(mod, tsc);
    LLVMOrcDisposeThreadSafeContext(tsc);
    LLVMErrorRef e = LLVMOrcLLJITAddLLVMIRModule(j->jit, LLVMOrcLLJITGetMainJITDylib(j->jit), tsm);
    if (e) {
        LLVMOrcDisposeThreadSafeModule(tsm);
        llvm_fail(e, "adding the module to the JIT", err);
        gc_codegen_jit_free(j);
        return NULL;
    }
    /* The first lookup compiles the module to machine code and links it. */
    j->step = lookup(j->jit, "gc_step", err);
    j->update = j->step ? lookup(j->jit, "gc_update", err) : NULL;
    j->init = j->update ? lookup(j->jit, "gc_init", err) : NULL;
    if (!j->init) {
        gc_codegen_jit_free(j);
        return NULL;
    }
    t.jit_ms = cg_now_ms() - start;
    t.total_ms += t.jit_ms;
    if (times) *times = t;
    return j;
}

gc_step_fn gc_codegen_jit_init(const gc_codegen_jit *jit) { return jit ? jit->init : NULL; }

gc_step_fn gc_codegen_jit_step(const gc_codegen_jit *jit) { return jit ? jit->step : NULL; }

gc_step_fn gc_codegen_jit_update(const gc_codegen_jit *jit) { return jit ? jit->update : NULL; }

void gc_codegen_jit_free(gc_codegen_jit *jit) {
    if (!jit) return;
    if (jit->jit) {
        LLVMErrorRef e = LLVMOrcDisposeLLJIT(jit->jit);
        if (e) LLVMConsumeError(e);
    }
    free(jit);
}
