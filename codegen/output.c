/*
 * output.c: the whole graph as one optimised module, as text (LLVM IR, host assembly) or as an
 * object file (only where object_file.c cannot merge the kernels' own objects).
 *
 * Each call compiles the graph afresh in a private LLVM context with the layout the executors
 * run (gc_layout_plan_step: fused, reused, updates in place), so the dumps show the kernels the
 * JIT runs (gradc ir --stage llvm|asm), with entry points that call them directly.
 */
#include <stdlib.h>
#include <string.h>

#include "codegen/cg.h"

typedef struct compiled {
    LLVMContextRef ctx;
    LLVMTargetMachineRef tm;
    LLVMModuleRef mod;
    gc_layout layout;
} compiled;

static void release(compiled *c) {
    if (c->mod) LLVMDisposeModule(c->mod);
    if (c->tm) LLVMDisposeTargetMachine(c->tm);
    if (c->ctx) LLVMContextDispose(c->ctx);
    gc_layout_free(&c->layout);
}

static int compile(const gc_graph *g, bool hooked_step, compiled *c, gc_error *err) {
    memset(c, 0, sizeof *c);
    if (!g) return gc_failf(err, GC_ERR_INTERNAL, "internal error: codegen: no graph");
    if (!gc_layout_plan_step(g, &c->layout, err)) return 0;
    c->tm = cg_host_machine(err);
    if (!c->tm) {
        release(c);
        return 0;
    }
    c->ctx = LLVMContextCreate();
    c->mod = cg_build_module(c->ctx, g, &c->layout, c->tm, NULL, NULL, hooked_step, NULL, err);
    if (!c->mod) {
        release(c);
        return 0;
    }
    return 1;
}

char *gc_codegen_llvm_ir(const gc_graph *g, gc_error *err) {
    compiled c;
    if (!compile(g, false, &c, err)) return NULL;
    char *text = LLVMPrintModuleToString(c.mod);
    char *copy = strdup(text);
    LLVMDisposeMessage(text);
    release(&c);
    if (!copy) gc_failf(err, GC_ERR_MEMORY, "out of memory");
    return copy;
}

char *gc_codegen_asm(const gc_graph *g, gc_error *err) {
    compiled c;
    if (!compile(g, false, &c, err)) return NULL;
    char *msg = NULL;
    LLVMMemoryBufferRef buf = NULL;
    char *copy = NULL;
    if (LLVMTargetMachineEmitToMemoryBuffer(c.tm, c.mod, LLVMAssemblyFile, &msg, &buf)) {
        gc_failf(err, GC_ERR_INTERNAL, "internal error: LLVM could not emit assembly: %s", msg ? msg : "");
    } else {
        size_t size = LLVMGetBufferSize(buf);
        copy = malloc(size + 1);
        if (copy) {
            memcpy(copy, LLVMGetBufferStart(buf), size);
            copy[size] = '\0';
        } else {
            gc_failf(err, GC_ERR_MEMORY, "out of memory");
        }
        LLVMDisposeMemoryBuffer(buf);
    }
    LLVMDisposeMessage(msg);
    release(&c);
    return copy;
}

/* The whole graph as one module, optimised and written as an object: what object_file.c falls
 * back to when it cannot merge the kernels' objects (hooked_step: with gc_step_hooked). */
int cg_emit_module_object(const gc_graph *g, const char *path, bool hooked_step, gc_error *err) {
    if (!path) return gc_failf(err, GC_ERR_INTERNAL, "internal error: gc_codegen_emit_object: no path");
    compiled c;
    if (!compile(g, hooked_step, &c, err)) return 0;
    /* The C API wants a mutable file name. */
    char *file = strdup(path), *msg = NULL;
    int ok = 1;
    if (!file) {
        ok = gc_failf(err, GC_ERR_MEMORY, "out of memory");
    } else if (LLVMTargetMachineEmitToFile(c.tm, c.mod, file, LLVMObjectFile, &msg)) {
        ok = gc_failf(err, GC_ERR_IO, "cannot write object file %s: %s", path, msg ? msg : "");
    }
    LLVMDisposeMessage(msg);
    free(file);
    release(&c);
    return ok;
}
