/*
 * cg.h: private to codegen/ — the emission context, the kernel emitters (one per op, expanded
 * from ir/ops.def so an op without one fails to link) and the IR-building helpers they share.
 *
 * A kernel emitter fills the body of `void k<id>(ptr noalias out, ptr noalias in0, ...)` at the
 * builder's position: `out` points at the node's value, in[k] at operand k's, each dense
 * row-major in the node's dtype. Shapes are static, so every extent and stride is a constant.
 * Emitters report failure by filling cg->err and returning 0.
 */
#ifndef GC_CODEGEN_CG_H
#define GC_CODEGEN_CG_H

#include <llvm-c/Core.h>
#include <llvm-c/TargetMachine.h>

#include "codegen/codegen.h"
#include "ir/graph.h"
#include "runtime/parallel.h"

/* GC_SHARE_ONE is 1 << GC_SHARE_BITS. */
#define GC_SHARE_BITS 16
_Static_assert(GC_SHARE_ONE == 1 << GC_SHARE_BITS, "GC_SHARE_ONE is a power of two");

typedef struct cg_ctx {
    LLVMContextRef ctx;
    LLVMModuleRef mod;
    LLVMBuilderRef b;
    LLVMValueRef fn; /* the function being emitted */
    LLVMTypeRef t_void, t_i1, t_i8, t_i32, t_i64, t_f32, t_f64, t_ptr;
    gc_error *err;
    /* While a reduction with a fused prologue is emitted: the kernel and its outside values;
     * the reduction then loads its operand through cg_prologue_value. NULL otherwise. */
    const struct cg_group *prologue;
    const LLVMValueRef *prologue_ext;
    /* The kernel's share of the work, [share_from, share_to) in GC_SHARE_ONE units (its last
     * two i32 parameters), NULL outside a kernel or where splitting is not allowed; `parallel` is
     * set once the body is split by them, which makes the step run the kernel on every thread of
     * the pool (codegen/parallel.c). calls_gemm and calls_blas say what the kernel calls (the
     * pool balances only a kernel whose results cannot depend on the cut, runtime/parallel.h). */
    LLVMValueRef share_from, share_to;
    bool parallel;
    bool calls_gemm, calls_blas;
    /* The kernel's parts are parts of one gc_sgemm product split by rows (1) or columns (2),
     * which share the packing of the operand each reads whole, or segments of one product split
     * along k (3, gc_sgemm_ksplit) (GC_TASK_GEMM_*); 0: none of these. */
    int gemm_split;
    /* The GEMM adds its product onto what the result buffer holds (beta 1) instead of
     * overwriting it: a GEMM epilogue kernel whose add member's other operand lives in the
     * result's bytes (passes/plan.c, operand bytes). */
    bool gemm_accumulate;
    /* In a kernel with stored members: where each of cg_group.stores goes. */
    const LLVMValueRef *stored;
    /* The gc_profile the step's ticks go to (runtime/profile.h), NULL when not profiled. */
    void *profile;
    /* The step hook state gc_step passes to gc_step_hook (runtime/step_hook.h), NULL: none. */
    void *hooks;
    /* Also emit gc_step_hooked(arena, pool, ctx): gc_step calling gc_step_hook(ctx, ...). */
    bool hooked_step;
    /* The arena plan being compiled: a matmul reads an operand that is a view (passes/plan.h)
     * through its strides. */
    const gc_layout *layout;
    /* In a fused loop whose innermost loop walks the result's last dim: that loop's index (i64),
     * which a one_hot member takes as its position instead of dividing the row-major index. */
    LLVMValueRef last_index;
} cg_ctx;

typedef int (*cg_emitter)(cg_ctx *cg, const gc_node *n, LLVMValueRef out, const LLVMValueRef *in);

#define GC_OP(E, name, ...) \
    int cg_emit_##name(cg_ctx *cg, const gc_node *n, LLVMValueRef out, const LLVMValueRef *in);
#include "ir/ops.def"
#undef GC_OP

/* ---- the context (module.c) ---- */
void cg_ctx_init(cg_ctx *cg, LLVMContextRef ctx, LLVMModuleRef mod, gc_error *err);
void cg_ctx_dispose(cg_ctx *cg);

/* Builds, verifies and optimises the whole module for g in ctx with `tm` (which sets the triple,
 * data layout and the CPU the optimiser tunes for). A non-NULL `profile` (a gc_profile, alive as
 * long as the code) makes gc_step and gc_update tick it around every kernel; a non-NULL `hooks` makes
 * gc_step call gc_step_hook with it (runtime/step_hook.h); hooked_step adds the entry
 * gc_step_hooked(arena, pool, ctx), gc_step with those calls on a ctx its caller passes (an object
 * file's step under mpirun). times may be NULL. */
LLVMModuleRef cg_build_module(LLVMContextRef ctx, const gc_graph *g, const gc_layout *layout,
                              LLVMTargetMachineRef tm, void *profile, void *hooks, bool hooked_step,
                              gc_codegen_times *times, gc_error *err);

/* ---- pieces of module.c that program.c shares ---- */
typedef struct cg_group cg_group;
bool cg_has_kernel(const gc_node *n, const gc_layout *layout);
bool cg_is_init_node(const gc_node *n);
/* Step hooks (module.c): the gradient outputs with bytes of their own, by node id, ascending and
 * each once (malloc'd, NULL when out of memory); whether reading v reads bytes of one of
 * grads[0 .. ready). */
int *cg_grad_nodes(const gc_graph *g, const gc_layout *layout, int *count);
bool cg_reads_ready_grad(const gc_graph *g, const gc_layout *layout, const int *grads, int ready, const gc_node *v);
/* The kernel of every root (indexed by root id); *storage is freed with free() after them. */
cg_group *cg_make_groups(const gc_graph *g, const gc_layout *layout, const gc_node ***storage, gc_error *err);
/* Emits grp as an internal function k<root id> of cg->mod; NULL after filling cg->err. */
LLVMValueRef cg_emit_kernel(cg_ctx *cg, const cg_group *grp);
bool cg_kernel_is_parallel(LLVMValueRef fn);
int32_t cg_kernel_task_flags(LLVMValueRef fn);
int cg_optimize(LLVMModuleRef mod, LLVMTargetMachineRef tm, gc_error *err);

/* ---- kernels ----
 * What one kernel computes: its members in graph order, the last one the root whose value it
 * stores, and the values it reads from outside. A kernel of one node reads its operands in
 * order (a repeated operand is passed twice); a fused kernel reads each outside value once.
 * The kernel is void k<root id>(ptr out, ptr ext0, ptr ext1, ...). */
struct cg_group {
    int num_members;
    const gc_node **members;
    int num_ext;
    const gc_node **ext;
    /* Members the kernel also stores (graph outputs computed in its loop, passes/fuse.h), each
     * through a pointer parameter after the outside values'. */
    int num_stores;
    const gc_node **stores;
    /* Per outside value j < 64: 0 when it has its own pointer; 1 when it lives in the result's
     * bytes, 2 + s when in stored member s's (an update written in place, passes/plan.c). The
     * kernel then reads it through that pointer, so no two noalias pointers of the kernel ever
     * address the same bytes. */
    unsigned char reads_from[64];
};

typedef struct cg_group cg_group;
/* The pointer parameters of a kernel: its result, the outside values, the stored members. */
static inline int cg_group_pointers(const cg_group *grp) { return 1 + grp->num_ext + grp->num_stores; }
/* The node pointer parameter k of a kernel with root n points at. */
static inline const gc_node *cg_group_pointer(const cg_group *grp, const gc_node *n, int k) {
    return k == 0 ? n : k <= grp->num_ext ? grp->ext[k - 1] : grp->stores[k - 1 - grp->num_ext];
}

/* The body of a fused kernel (members elementwise over the root's shape, fused.c). */
int cg_fused_kernel(cg_ctx *cg, const cg_group *grp, LLVMValueRef out, const LLVMValueRef *ext);
/* In a reduction with a prologue: the reduction's operand at element `flat` (an i64 row-major
 * index into it), computed from the outside values; `out` is the index of the result element
 * it goes into, where outside values shaped like the result (a row's mean) are read. NULL after
 * filling cg->err. */
LLVMValueRef cg_prologue_value(cg_ctx *cg, LLVMValueRef flat, LLVMValueRef out);
/* The same for a kernel of several reductions over one operand space (sibling reductions,
 * passes/fuse.c): values[i] is the operand of the kernel's i-th reduction member (graph order)
 * at `flat`; the elementwise members the kernel stores are stored there too. 0 after filling
 * cg->err. */
int cg_prologue_operands(cg_ctx *cg, LLVMValueRef flat, LLVMValueRef out, LLVMValueRef *values);
/* The reductions (sum or mean) of a kernel, nodes[0..count), in one pass over their common
 * operand space, each result to outs[i]; operands through cg_prologue_operands. */
int cg_emit_reductions(cg_ctx *cg, const gc_node *const *nodes, int count, const LLVMValueRef *outs);

/* ---- kernel sharing (dedup.c) ----
 * Kernels with the same members (ops, attributes, types, how they read each other and the
 * outside values) and outside values of the same types (and, for views, strides) get one function. get returns the
 * function of an equal kernel put before, or NULL; put returns 0 only when out of memory. */
typedef struct cg_kernel_cache cg_kernel_cache;
cg_kernel_cache *cg_kernel_cache_new(int nodes, const gc_layout *layout);
void cg_kernel_cache_free(cg_kernel_cache *c);
LLVMValueRef cg_kernel_cache_get(cg_kernel_cache *c, const cg_group *grp);
int cg_kernel_cache_put(cg_kernel_cache *c, const cg_group *grp, LLVMValueRef fn);
/* The same by number: the index given with an equal kernel before, else `index` (now recorded);
 * -1 when out of memory. */
int cg_kernel_cache_share(cg_kernel_cache *c, const cg_group *grp, int index);

/* ---- the kernel cache on disk (disk_cache.c) ---- */
#define CG_CACHE_KEY_LEN 32
typedef struct cg_disk_cache {
    char dir[4096];
    bool enabled;
    int64_t max_bytes; /* $GRADC_CACHE_MAX (default CG_CACHE_DEFAULT_MAX); 0: no bound */
} cg_disk_cache;
#define CG_CACHE_DEFAULT_MAX ((int64_t)1 << 30)
/* Finds the cache directory ($GRADC_CACHE_DIR, "off" to disable; else $XDG_CACHE_HOME/gradc or
 * ~/.cache/gradc), creating it; 0 (and no cache) when disabled or it cannot be made. */
int cg_cache_open(cg_disk_cache *c);
/* What a kernel's code depends on besides its IR: gradc's and LLVM's versions, the CPU and its
 * features, as one string; the caller frees it. NULL when out of memory. */
char *cg_cache_target(const char *cpu, const char *features);
/* The key of a kernel: 32 hex digits hashing the target string and the kernel's IR text. */
void cg_cache_key(const char *target, const char *ir, size_t ir_len, char hex[CG_CACHE_KEY_LEN + 1]);
/* The object stored under key (malloc'd) and 1; 0 on a miss, with *rejected when an entry was
 * there but is not a whole, matching one. */
int cg_cache_load(const cg_disk_cache *c, const char *key, char **object, size_t *len, bool *rejected);
/* Stores an object under key atomically; 0 when the cache could not be written (harmless). */
int cg_cache_store(const cg_disk_cache *c, const char *key, const char *object, size_t len);
/* Bounds the cache to max_bytes: when its entries take more, the least recently used (by mtime:
 * a hit touches its entry) are removed until they take at most 90% of it; temporary files older
 * than an hour (a writer killed mid-entry) go too. One process evicts at a time (a lock file);
 * another that finds it taken skips. Removing an entry another run is reading is safe (the reader
 * keeps its open file; one that opens later misses and compiles). Returns the entries removed. */
int cg_cache_evict(const cg_disk_cache *c);
/* "512M", "2G", "1048576": bytes (K, M, G, T are powers of 1024), or -1 when not a size. */
int64_t cg_cache_parse_size(const char *text);

/* ---- the distinct kernels of a graph (program.c), each compiled alone or read from the cache,
 * for the JIT (cg_program_build) and for object files (object_file.c) ---- */
typedef struct cg_kernel_job {
    const struct cg_group *grp; /* the first kernel of its kind */
    char key[CG_CACHE_KEY_LEN + 1];
    char *object; /* its object file: defines gc_t_<key> (the task) and the local gc_k_<key> */
    size_t object_len;
    bool parallel, hit, rejected;
    int32_t flags;
    int same_as; /* the job that compiles this one's key (equal IR), or -1 for itself */
    gc_task_fn task; /* once linked into a JIT */
} cg_kernel_job;
typedef struct cg_kernels {
    struct cg_group *groups;     /* the kernel of every root (cg_make_groups) */
    const gc_node **storage;
    int *job_of;                 /* per node: the job of its kernel, -1 when it has none */
    cg_kernel_job *jobs;
    int num_jobs;
    int counts[3];               /* calls of gc_init, gc_step, gc_update (CG_ENTRY_*) */
    int64_t num_offsets;         /* pointer parameters over all calls */
    int split;                   /* calls of roots from here on are gc_update's */
    char *target;                /* cg_cache_target of the host */
    cg_disk_cache cache;         /* the kernel cache (cache.enabled: in use) */
} cg_kernels;
/* Compiles (or reads from the cache) every distinct kernel of g; fills prepare, kernels, emit,
 * O3, machine code and the counts of *t. */
int cg_kernels_compile(const gc_graph *g, const gc_layout *layout, cg_kernels *ks, gc_codegen_times *t, gc_error *err);
void cg_kernels_free(cg_kernels *ks);
/* The entry point (CG_ENTRY_*) that calls the kernel of node n (index i). */
int cg_kernels_entry(const gc_node *n, int i, int split);

/* ---- the JIT's program (program.c): each distinct kernel compiled alone (or taken from the
 * cache), and the calls of gc_init, gc_step and gc_update as a table run from C ---- */
enum { CG_ENTRY_INIT, CG_ENTRY_STEP, CG_ENTRY_UPDATE, CG_ENTRY_COUNT };
typedef struct cg_call {
    gc_task_fn task;
    const int64_t *offsets; /* the arena offsets of its pointer parameters */
    int32_t flags;          /* GC_TASK_* */
    bool parallel;          /* run on every thread of the pool */
    int node;               /* the kernel's root id (profile ticks) */
    int grads_ready;        /* step hooks: gradients final before this call (a prefix of grads) */
    bool reads_grads;       /* step hooks: it reads bytes of one of those gradients */
} cg_program_call;
typedef struct cg_program {
    cg_program_call *calls;
    int begin[CG_ENTRY_COUNT + 1]; /* entry e runs calls [begin[e], begin[e + 1]) */
    int64_t *offsets;
    void *profile;
    void *hooks;    /* passed to gc_step_hook around gc_step's calls (runtime/step_hook.h), or NULL */
    int *grads;     /* with hooks: the gradient outputs with bytes of their own, ascending node id */
    int num_grads;
} cg_program;
struct LLVMOrcOpaqueLLJIT;
/* Compiles every distinct kernel of g into `jit` (an LLJIT with the runtime's symbols defined)
 * and fills the program that calls them; times gets the compile's phases and counts. */
int cg_program_build(struct LLVMOrcOpaqueLLJIT *jit, const gc_graph *g, const gc_layout *layout, void *profile,
                     void *hooks, cg_program *p, gc_codegen_times *times, gc_error *err);
void cg_program_run(const cg_program *p, int entry, char *arena, void *pool);
void cg_program_free(cg_program *p);

/* ---- object files (object_merge.c, object_file.c) ---- */
typedef struct cg_object_part {
    const char *data;
    size_t len;
    const char *name; /* for messages */
} cg_object_part;
/* What cg_object_merge returns for objects it does not handle (another format, COMDAT groups,
 * SHT_REL, ...): err is filled, and the caller may build the object another way. */
#define CG_MERGE_UNSUPPORTED (-1)
/* The ELF64 relocatable objects `parts` as one (malloc'd into *out): sections concatenated by
 * name, type and flags, symbols resolved by name; every definition but the names in `globals`
 * becomes local. 1, 0 after filling err, or CG_MERGE_UNSUPPORTED. */
int cg_object_merge(const cg_object_part *parts, int num_parts, const char *const *globals, int num_globals,
                    char **out, size_t *out_len, gc_error *err);
/* The whole graph as one module written as an object file (output.c). */
int cg_emit_module_object(const gc_graph *g, const char *path, bool hooked_step, gc_error *err);

/* ---- the target (llvm_target.c) ---- */
int cg_target_init(gc_error *err);
/* A target machine for the host CPU with all its features, O3, PIC. Caller disposes. */
LLVMTargetMachineRef cg_host_machine(gc_error *err);
/* An empty module named `name` in ctx with tm's triple and data layout. */
LLVMModuleRef cg_module_for(LLVMContextRef ctx, LLVMTargetMachineRef tm, const char *name);
double cg_now_ms(void);

/* ---- values and types (emit_util.c) ---- */
LLVMTypeRef cg_type(cg_ctx *cg, gc_dtype dtype);
LLVMValueRef cg_i64(cg_ctx *cg, int64_t v);
LLVMValueRef cg_i32(cg_ctx *cg, int32_t v);
/* v as a constant of dtype, converted as the interpreter converts (saturating to i32, rounding
 * to nearest f32 with overflow to inf). */
LLVMValueRef cg_const(cg_ctx *cg, gc_dtype dtype, double v);
double cg_round_f32(double v);
double cg_to_i32(double v);

/* Element i (an i64 value) of a dtype array at ptr. */
LLVMValueRef cg_elem_ptr(cg_ctx *cg, gc_dtype dtype, LLVMValueRef ptr, LLVMValueRef i);
LLVMValueRef cg_load(cg_ctx *cg, gc_dtype dtype, LLVMValueRef ptr, LLVMValueRef i);
void cg_store(cg_ctx *cg, gc_dtype dtype, LLVMValueRef v, LLVMValueRef ptr, LLVMValueRef i);

/* Float arithmetic carrying only the `contract` fast-math flag (so a*b+c may become an FMA). */
LLVMValueRef cg_fadd(cg_ctx *cg, LLVMValueRef a, LLVMValueRef b);
LLVMValueRef cg_fsub(cg_ctx *cg, LLVMValueRef a, LLVMValueRef b);
LLVMValueRef cg_fmul(cg_ctx *cg, LLVMValueRef a, LLVMValueRef b);

/* A call to an overloaded intrinsic ("llvm.exp") at the type of args[0]. */
LLVMValueRef cg_intrinsic(cg_ctx *cg, const char *name, LLVMValueRef *args, int n);
/* The same for intrinsics overloaded on a return type distinct from their operand's
 * (llvm.fptosi.sat: overloads {ret, arg}). */
LLVMValueRef cg_intrinsic2(cg_ctx *cg, const char *name, LLVMTypeRef ret, LLVMValueRef *args, int n);
/* A call to an external C function of the process (libm, OpenBLAS), declared on first use. */
LLVMValueRef cg_call(cg_ctx *cg, const char *name, LLVMTypeRef ret, LLVMTypeRef *params,
                     LLVMValueRef *args, int n);
/* A libm function of one float argument at dtype: "erf" calls erff for f32, erf for f64. */
LLVMValueRef cg_libm1(cg_ctx *cg, const char *name, gc_dtype dtype, LLVMValueRef x);

/* An alloca of `count` elements in the entry block (so mem2reg and SROA can promote it). */
LLVMValueRef cg_entry_alloca(cg_ctx *cg, LLVMTypeRef type, int64_t count);

/* ---- loops (emit_util.c) ----
 * A counted loop from 0 to count - 1 (count >= 1), bottom-tested: begin opens it at the
 * builder's position and leaves the builder in its body; end closes it and leaves the builder
 * after it. Nest freely; the induction variable is an i64. A constant count of 1 emits no loop
 * at all (the index is the constant 0). */
typedef struct cg_loop {
    LLVMBasicBlockRef body;
    LLVMValueRef iv;
    LLVMValueRef count;
    LLVMBasicBlockRef exit; /* a range loop's block after it (cg_loop_begin_range), else NULL */
} cg_loop;

void cg_loop_begin(cg_ctx *cg, cg_loop *loop, LLVMValueRef count);
void cg_loop_end(cg_ctx *cg, cg_loop *loop);
/* A top-tested loop from lo to hi - 1 (i64 values; none at all when lo >= hi), closed by
 * cg_loop_end. */
void cg_loop_begin_range(cg_ctx *cg, cg_loop *loop, LLVMValueRef lo, LLVMValueRef hi);

/* Loop nests over a shape with up to CG_MAX_OPERANDS strided operands; offsets are i64 element
 * offsets, one per operand, at the current index. */
#define CG_MAX_OPERANDS 16
typedef struct cg_nest {
    int rank;
    int64_t dims[GC_MAX_RANK];
    int count;
    int64_t strides[CG_MAX_OPERANDS][GC_MAX_RANK];
    cg_loop loops[GC_MAX_RANK];
    LLVMValueRef idx[GC_MAX_RANK];   /* induction variables after begin */
    LLVMValueRef off[CG_MAX_OPERANDS];
} cg_nest;

void cg_nest_init(cg_nest *nest, int rank, const int64_t *dims);
int cg_nest_add(cg_nest *nest, const int64_t *strides);
/* Merges adjacent dims along which every operand steps evenly, so loops are few and long. */
void cg_nest_coalesce(cg_nest *nest);
void cg_nest_begin(cg_ctx *cg, cg_nest *nest);
/* The same with dim `dim` walking only [lo, hi) (a part of a split kernel). */
void cg_nest_begin_part(cg_ctx *cg, cg_nest *nest, int dim, LLVMValueRef lo, LLVMValueRef hi);
void cg_nest_end(cg_ctx *cg, cg_nest *nest);

/* ---- splitting a kernel over the pool (parallel.c) ----
 * A kernel is split statically: part p of P takes the p-th of P nearly equal runs of some index
 * range, the same runs on every call, so results do not depend on timing. */
/* Whether the kernel being emitted may be split, and is worth splitting for `work` (elements
 * or multiply-adds it touches): small kernels cost less than waking a thread. */
bool cg_split_worthwhile(cg_ctx *cg, double work);
/* This part's run [*lo, *hi) of [0, count), cut at multiples of `unit` (the last run takes any
 * remainder); marks the kernel parallel. */
void cg_split_range(cg_ctx *cg, int64_t count, int64_t unit, LLVMValueRef *lo, LLVMValueRef *hi);
/* Splits a coalesced nest over its outermost dim (rows `unit` apart) when worthwhile: begins it
 * split or whole; returns whether it split. */
bool cg_nest_begin_split(cg_ctx *cg, cg_nest *nest, double work);

/* Strides reading `from` while walking the dims of `to` under NumPy broadcasting (0 along dims
 * `from` lacks or has as 1). */
void cg_broadcast_strides(const gc_type *from, const gc_type *to, int64_t *strides);

/* ---- math (emit_math.c) ----
 * Transcendental functions of x at dtype. For f32: straight-line IR (arithmetic, bit operations
 * and selects, no calls or branches) so that the enclosing loop vectorizes, within a few ulp over
 * the whole float range with IEEE special values; x may also be a vector of f32 (an explicit
 * vector loop). For f64: llvm.exp / llvm.log or the libm call, exactly as before. */
LLVMValueRef cg_math_exp(cg_ctx *cg, gc_dtype t, LLVMValueRef x);
LLVMValueRef cg_math_log(cg_ctx *cg, gc_dtype t, LLVMValueRef x);
LLVMValueRef cg_math_log1p(cg_ctx *cg, gc_dtype t, LLVMValueRef x);
LLVMValueRef cg_math_tanh(cg_ctx *cg, gc_dtype t, LLVMValueRef x);
LLVMValueRef cg_math_erf(cg_ctx *cg, gc_dtype t, LLVMValueRef x);
LLVMValueRef cg_math_erfc(cg_ctx *cg, gc_dtype t, LLVMValueRef x);

/* ---- GEMM parts (emit_gemm.c), for epilogues split with their GEMM ---- */
/* Whether matmul n is one GEMM call (its batch, if any, folds into the rows), and the shape of
 * its result seen as a [rows, cols] matrix. */
bool cg_gemm_rows(const cg_ctx *cg, const gc_node *n, int64_t *rows, int64_t *cols);
/* Whether a GEMM of that shape splits faster by columns than by rows, and the unit (rows or
 * columns) its parts are cut at. */
bool cg_gemm_split_cols(gc_dtype dtype, int64_t m, int64_t n, int64_t k, bool trans_a, int64_t *unit);
/* Whether matmul n is one GEMM split along k (runtime/gemm.h, gc_sgemm_splits_k): its
 * epilogue, if any, then waits for the whole product. */
bool cg_gemm_splits_k(const cg_ctx *cg, const gc_node *n);
/* Whether matmul n is a batch of GEMMs, one per matrix of its result's batch (which does not
 * fold into rows), split along its outermost run: `batches` indices of the result's `lead`
 * leading dims, merged. */
bool cg_gemm_batches(const cg_ctx *cg, const gc_node *n, int64_t *batches, int *lead);
/* The GEMMs of indices [lo, hi) of that run (i64 values), each with the whole batch inside it. */
int cg_emit_matmul_batch_part(cg_ctx *cg, const gc_node *n, LLVMValueRef out, const LLVMValueRef *in, LLVMValueRef lo,
                              LLVMValueRef hi);
/* Rows [lo, hi) of that matrix, or columns when `cols` (i64 values). */
int cg_emit_matmul_part(cg_ctx *cg, const gc_node *n, LLVMValueRef out, const LLVMValueRef *in, bool cols,
                        LLVMValueRef lo, LLVMValueRef hi);

/* ---- convolution parts (emit_conv.c), for epilogues run image by image ---- */
/* Whether conv or conv_input_grad n may run image by image with an epilogue (f32 or f64), and
 * its multiply-adds (for cg_split_worthwhile). */
bool cg_conv_by_images(const gc_node *n, double *macs);
/* The images a call should take (runtime/conv.h: gc_conv_images_per_call). */
int64_t cg_conv_images_per_call(const gc_node *n);
/* Images [lo, hi) of conv or conv_input_grad n (i64 values) into out; `again` (i32, not 0): the
 * previous call on this thread was this one's with the same weights (runtime/conv.h). */
int cg_emit_conv_images(cg_ctx *cg, const gc_node *n, LLVMValueRef out, const LLVMValueRef *in, LLVMValueRef lo,
                        LLVMValueRef hi, LLVMValueRef again);

/* ---- shared by emitters ---- */
/* The elementwise kernel over n's result shape: the node's value at each element from its
 * operands' values there (emit_elementwise.c). */
int cg_elementwise_kernel(cg_ctx *cg, const gc_node *n, LLVMValueRef out, const LLVMValueRef *in);
/* The value of elementwise node n at one element, from its operands' values there; `flat` is
 * the element's row-major index (random_uniform, and one_hot's position along its last dim).
 * NULL for iota, which needs its index along each dim, or an op that is not elementwise. */
LLVMValueRef cg_element_value(cg_ctx *cg, const gc_node *n, const LLVMValueRef *args, LLVMValueRef flat);
/* Copies `count` elements of dtype from src to dst. */
void cg_copy(cg_ctx *cg, gc_dtype dtype, LLVMValueRef dst, LLVMValueRef src, int64_t count);
/* Fills `count` elements of dtype at dst with zero bytes. */
void cg_zero(cg_ctx *cg, gc_dtype dtype, LLVMValueRef dst, int64_t count);
/* The uniform [0, 1) draw of ir/random.c at element `index` (i64) as a value of dtype. */
LLVMValueRef cg_random_uniform(cg_ctx *cg, const gc_node *n, LLVMValueRef step, LLVMValueRef index);

#endif
