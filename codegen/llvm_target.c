/*
 * llvm_target.c: LLVM's one-time target setup and the target machine for the host CPU.
 *
 * Every compile path (JIT, IR and assembly dumps, object files) optimises for the same machine:
 * the host's CPU name and its full feature list (AVX-512 where present), O3 code generation and
 * position-independent code, so an object file links into a PIE trainer unchanged.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <llvm-c/Target.h>

#include "codegen/cg.h"

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_failed;

static void init_native(void) {
    /* Each returns nonzero when the host has no such LLVM component. */
    init_failed = LLVMInitializeNativeTarget() || LLVMInitializeNativeAsmPrinter() ||
                  LLVMInitializeNativeAsmParser();
}

int cg_target_init(gc_error *err) {
    pthread_once(&init_once, init_native);
    if (init_failed)
        return gc_failf(err, GC_ERR_INTERNAL, "internal error: LLVM has no code generator for this host");
    return 1;
}

LLVMTargetMachineRef cg_host_machine(gc_error *err) {
    if (!cg_target_init(err)) return NULL;
    char *triple = LLVMGetDefaultTargetTriple();
    LLVMTargetRef target = NULL;
    char *msg = NULL;
    if (LLVMGetTargetFromTriple(triple, &target, &msg)) {
        gc_failf(err, GC_ERR_INTERNAL, "internal error: LLVM has no target for %s: %s", triple, msg ? msg : "");
        LLVMDisposeMessage(msg);
        LLVMDisposeMessage(triple);
        return NULL;
    }
    char *cpu = LLVMGetHostCPUName(), *features = LLVMGetHostCPUFeatures();
    LLVMTargetMachineRef tm = LLVMCreateTargetMachine(target, triple, cpu, features, LLVMCodeGenLevelAggressive,
                                                      LLVMRelocPIC, LLVMCodeModelDefault);
    LLVMDisposeMessage(cpu);
    LLVMDisposeMessage(features);
    LLVMDisposeMessage(triple);
    if (!tm) gc_failf(err, GC_ERR_INTERNAL, "internal error: LLVM could not make a target machine for the host");
    return tm;
}

double cg_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* LLVM's strings are freed by LLVM; callers of the gc_ functions get malloc'd copies. */
static char *copy_message(char *msg, gc_error *err) {
    char *s = msg ? strdup(msg) : NULL;
    LLVMDisposeMessage(msg);
    if (!s) gc_failf(err, GC_ERR_MEMORY, "out of memory");
    return s;
}

char *gc_codegen_host_cpu(gc_error *err) {
    if (!cg_target_init(err)) return NULL;
    return copy_message(LLVMGetHostCPUName(), err);
}

char *gc_codegen_host_features(gc_error *err) {
    if (!cg_target_init(err)) return NULL;
    return copy_message(LLVMGetHostCPUFeatures(), err);
}

LLVMModuleRef cg_module_for(LLVMContextRef ctx, LLVMTargetMachineRef tm, const char *name) {
    LLVMModuleRef mod = LLVMModuleCreateWithNameInContext(name, ctx);
    char *triple = LLVMGetTargetMachineTriple(tm);
    LLVMSetTarget(mod, triple);
    LLVMDisposeMessage(triple);
    LLVMTargetDataRef dl = LLVMCreateTargetDataLayout(tm);
    LLVMSetModuleDataLayout(mod, dl);
    LLVMDisposeTargetData(dl);
    return mod;
}
