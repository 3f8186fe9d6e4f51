/*
 * fuse.c: the fusion partition (fuse.h) — which nodes one kernel computes.
 *
 * Nodes are visited from last to first, so every user of a node has its kernel before the node
 * is looked at. A node joins a kernel of its users when all of these hold, and is otherwise the root
 * of a kernel of its own:
 *   - it joins the kernel of its first reader, and the rule table allows its class into the
 *     class of every user in that kernel; if a later kernel or an update output also needs it,
 *     that kernel is an elementwise loop with fewer than GC_FUSE_MAX_STORES stored members, which
 *     stores it too (gc_fusion_stored); a value or grad output stays a root;
 *   - it has the root's shape, so it is computed at the same element of the same loop;
 *   - the kernel still reads at most GC_FUSE_MAX_EXTERNAL distinct values from outside;
 *   - for a GEMM epilogue: the kernel has no GEMM yet and its root has the GEMM's dtype (the
 *     GEMM's result lives in the root's buffer until the loop overwrites it element by element);
 *     a conv or conv_input_grad is such a GEMM (its epilogue runs per image), conv_weight_grad not;
 *   - for a reduction prologue (sum, mean, max, min, and the window taps of max_pool and
 *     avg_pool, which no result-shaped value reaches): the node has the reduction operand's
 *     shape, and so has each of its operands, or holds one element (the code generator reads
 *     them at the operand's index).
 * One more way in, with the optimizer in backward only: an update's value, which no kernel
 * reads, joins the later row sum of its gradient's share of the norm (share_kernel), and its
 * chain follows it by the rules above.
 * The rules are data so that adding a kind of fusion (a reduction prologue, a GEMM epilogue) is
 * a new table entry plus the code generator's support for it.
 */
#include <stdlib.h>
#include <string.h>

#include "passes/fuse.h"

typedef enum fuse_rule {
    FUSE_NO,       /* the producer is stored and the consumer reads it */
    FUSE_LOOP,     /* the producer is computed in the consumer's loop, at the same element */
    FUSE_EPILOGUE, /* the producer (a GEMM) writes the kernel's result buffer first; the
                      consumer's loop then reads it there and overwrites it in place */
    FUSE_PROLOGUE, /* the producer is computed where the reduction loads its operand */
} fuse_rule;

/* rules[producer class][consumer class]. */
static const fuse_rule rules[GC_CLASS_LOOP + 1][GC_CLASS_LOOP + 1] = {
    [GC_CLASS_ELEMENTWISE] = {[GC_CLASS_ELEMENTWISE] = FUSE_LOOP, [GC_CLASS_REDUCTION] = FUSE_PROLOGUE},
    [GC_CLASS_GEMM] = {[GC_CLASS_ELEMENTWISE] = FUSE_EPILOGUE},
};

/* Ops that never join another kernel nor take members: constant and iota are computed once by
 * gc_init, and stop_gradient shares its operand's storage. one_hot joins loops (the code
 * generator reads its index operand along the result's leading dims and takes the position
 * from the row-major index), and the prologue of a reduction over the last axis alone
 * (hot_index_of_rows), but no other prologue, whose operands must have its shape. */
/* Pooling (max_pool, avg_pool) also takes a prologue: its window taps load their operand
 * through it (codegen/emit_pool.c), which must then have the operand's shape or one element. */
static bool is_pool(gc_op op) { return op == GC_OP_MAX_POOL || op == GC_OP_AVG_POOL; }

/* Reductions that take a prologue: sum, mean, max and min, on either path of emit_reduce.c (the
 * accumulator block computes it per element, the vector lanes per lane). */
static bool takes_prologue(const gc_node *n) {
    return n->op == GC_OP_SUM || n->op == GC_OP_MEAN || n->op == GC_OP_MAX || n->op == GC_OP_MIN || is_pool(n->op);
}

/* Whether t, broadcast into reduction n's operand, varies only along the kept axes and along all
 * of them: a value shaped like n's result (with or without its reduced axes as 1), which a
 * prologue reads at the result element (a row's mean in a layernorm's variance). Its elements
 * then never outnumber the operand's, and differ from them in count unless nothing is reduced. */
static bool result_shaped(const gc_type *t, const gc_node *n) {
    const gc_type *space = &n->inputs[0]->type;
    if (t->rank > space->rank || gc_type_numel(t) == gc_type_numel(space)) return false;
    int shift = space->rank - t->rank;
    for (int d = 0; d < space->rank; d++) {
        int64_t td = d >= shift ? t->dims[d - shift] : 1;
        bool reduced = (n->attr.reduce.axes >> d) & 1u;
        if (td != (reduced ? 1 : space->dims[d])) return false;
    }
    return true;
}

/* Reductions that may share their kernel with sibling reductions (the same operand space, axes
 * and result size): one pass over the operand computes them all (codegen/emit_reduce.c), as a
 * batch norm's sums of x and x squared, or its gradient's sums of dy and dy * x. */
static bool takes_siblings(const gc_node *n) {
    return (n->op == GC_OP_SUM || n->op == GC_OP_MEAN) && n->type.dtype == GC_F32;
}

/* Whether t, a one_hot's index operand, holds one index per row of reduction n's operand and
 * n reduces exactly the last axis: the prologue then reads the index at the result element (the
 * row) and the position along the row is the row-major index less the row's start
 * (codegen/fused.c). A cross-entropy's `sum(select(one_hot(t), logp, 0))` so never stores its
 * [tokens, classes] mask. */
static bool hot_index_of_rows(const gc_type *t, const gc_node *n) {
    const gc_type *space = &n->inputs[0]->type;
    if (n->op != GC_OP_SUM && n->op != GC_OP_MEAN && n->op != GC_OP_MAX && n->op != GC_OP_MIN) return false;
    if (space->rank < 1 || n->attr.reduce.axes != 1u << (space->rank - 1) || t->rank != space->rank - 1) return false;
    for (int d = 0; d < t->rank; d++)
        if (t->dims[d] != space->dims[d]) return false;
    return true;
}

static bool fusable_op(const gc_node *n) {
    gc_op op = n->op;
    /* The fused convolution kernels multiply in f32: a bf16 convolution (mixed precision) stays
     * a kernel of its own, whose bf16 GEMM rounds the operands as it packs them. */
    if ((op == GC_OP_CONV || op == GC_OP_CONV_INPUT_GRAD) && n->attr.conv.bf16) return false;
    /* A convolution and its input gradient take an epilogue, run image by image after each
     * image's GEMMs (codegen/fused.c). The weight gradient's sum over the batch is cut by input
     * channels, so no loop over its result could follow its parts: it stays a kernel of its own. */
    if (op == GC_OP_CONV_WEIGHT_GRAD) return false;
    if (is_pool(op)) return true;
    if (gc_op_table[op].op_class == GC_CLASS_REDUCTION) return op == GC_OP_SUM || op == GC_OP_MEAN || op == GC_OP_MAX || op == GC_OP_MIN;
    if (gc_op_table[op].op_class != GC_CLASS_ELEMENTWISE && gc_op_table[op].op_class != GC_CLASS_GEMM) return false;
    return op != GC_OP_CONSTANT && op != GC_OP_IOTA && op != GC_OP_STOP_GRADIENT &&
           !(gc_op_table[op].flags & GC_FLAG_NAMED);
}

static bool same_dims(const gc_type *a, const gc_type *b) {
    if (a->rank != b->rank) return false;
    for (int d = 0; d < a->rank; d++)
        if (a->dims[d] != b->dims[d]) return false;
    return true;
}

typedef struct fuse_state {
    const gc_graph *g;
    int *root, *next; /* next: the members of a kernel as a list from its root */
    int *use_start, *users;
    bool *is_output;
    int *mark, stamp;
    bool *has_gemm; /* per root */
    int *stores;    /* per root: members it also stores */
    bool *reported; /* per node: a value or grad output, which the step proper must store */
} fuse_state;

/* Distinct values read from outside kernel r if p joined it. */
static int externals_with(fuse_state *s, int r, int p) {
    s->stamp++;
    int count = 0;
    for (int m = r;; m = s->next[m]) {
        const gc_node *n = s->g->nodes[m == -1 ? p : m];
        for (int k = 0; k < n->num_inputs; k++) {
            int x = n->inputs[k]->id;
            if (x == p || s->root[x] == r || s->mark[x] == s->stamp) continue;
            s->mark[x] = s->stamp;
            count++;
        }
        if (m == -1) break;
    }
    return count;
}

/* Whether the kernel of reduction root r can also compute reduction p (stored, as a member of
 * r's kernel): p reduces the same operand space over the same axes, no reader of p runs in or
 * before r's kernel (p's value exists once r's kernel has run), and the kernel has room. */
static bool sibling_fits(fuse_state *s, const gc_node *p, int r) {
    const gc_node *root = s->g->nodes[r];
    if (r <= p->id || s->root[r] != r || !takes_siblings(root) || root->type.dtype != p->type.dtype ||
        root->attr.reduce.axes != p->attr.reduce.axes || !same_dims(&root->inputs[0]->type, &p->inputs[0]->type))
        return false;
    for (int u = s->use_start[p->id]; u < s->use_start[p->id + 1]; u++)
        if (s->root[s->users[u]] <= r) return false;
    return s->stores[r] < GC_FUSE_MAX_STORES && externals_with(s, r, p->id) <= GC_FUSE_MAX_EXTERNAL;
}

/* The earliest reduction kernel that can take reduction p as a sibling, or -1. Candidates are the
 * kernels that read p's operand, or (when that is elementwise) one of its operands. */
static int sibling_kernel(fuse_state *s, const gc_node *p) {
    const gc_node *x = p->inputs[0];
    const gc_node *near[4] = {x, NULL, NULL, NULL};
    int count = 1;
    if (gc_op_table[x->op].op_class == GC_CLASS_ELEMENTWISE)
        for (int k = 0; k < x->num_inputs && count < 4; k++) near[count++] = x->inputs[k];
    int best = -1;
    for (int q = 0; q < count; q++) {
        int id = near[q]->id;
        for (int u = s->use_start[id]; u < s->use_start[id + 1]; u++) {
            int user = s->users[u];
            if (user <= p->id) continue; /* not visited yet */
            int c = s->root[user];
            if (c >= 0 && (best < 0 || c < best) && sibling_fits(s, p, c)) best = c;
        }
    }
    return best;
}

/* Whether p reads, directly or through elementwise nodes only it reads, a GEMM only it reads:
 * p's own kernel could then be that GEMM's epilogue (a convolution's gradient and the ReLU mask
 * after it), which writes p as the GEMM's result leaves the cache, rather than a reduction's
 * prologue storing it from a second read. */
static bool epilogue_candidate(const fuse_state *s, const gc_node *p, int depth) {
    for (int k = 0; k < p->num_inputs; k++) {
        const gc_node *x = p->inputs[k];
        if (s->use_start[x->id + 1] - s->use_start[x->id] != 1) continue;
        if (gc_op_table[x->op].op_class == GC_CLASS_GEMM && fusable_op(x)) return true;
        if (depth > 0 && gc_op_table[x->op].op_class == GC_CLASS_ELEMENTWISE && epilogue_candidate(s, x, depth - 1))
            return true;
    }
    return false;
}

/* Whether p, an elementwise node, could be computed in a prologue over `space`: it has that
 * shape, and so has each of its operands or holds one element. */
static bool prologue_shaped(const gc_node *p, const gc_type *space) {
    if (gc_op_table[p->op].op_class != GC_CLASS_ELEMENTWISE || !fusable_op(p) || p->op == GC_OP_ONE_HOT ||
        !same_dims(&p->type, space))
        return false;
    for (int k = 0; k < p->num_inputs; k++)
        if (!same_dims(&p->inputs[k]->type, space) && gc_type_numel(&p->inputs[k]->type) != 1) return false;
    return true;
}

#define SHARE_CHAIN 48
/* What an update fused into its share must be made of: rows of whole 16-float vectors (the
 * staged prologue, codegen/emit_reduce.c), and a multiple of an elementwise kernel's unrolled
 * vector step (16 floats, 4 at a time) in all, so that the kernel of its own it replaces
 * computed every element in its vector body too. */
#define SHARE_ROW_UNIT 16
#define SHARE_NUMEL_UNIT 64

/* With the optimizer in backward (passes/update_order.c), an update's value, which nothing in
 * the step reads, may join the kernel of a later sum that reads the same gradient (its share of
 * the gradient norm, square then sum of rows) as a stored prologue member: one pass over the
 * gradient updates the param and sums the gradient's squares. Its chain (the elementwise nodes
 * of its shape it is computed from, which read nothing outside it but values from outside the
 * chain and update outputs) joins after it by the ordinary rules. The kernel is taken only
 * when the whole chain fits: its stored values within GC_FUSE_MAX_STORES, its outside values
 * within GC_FUSE_MAX_EXTERNAL; half a chain would cost a pass more than no fusion. Returns the
 * sum's kernel, or -1. */
static int share_kernel(fuse_state *s, const gc_node *p) {
    const gc_graph *g = s->g;
    if (!g->updates_in_backward || !s->is_output[p->id] || !prologue_shaped(p, &p->type)) return -1;
    /* Rows of whole vectors: codegen/emit_reduce.c then computes every element of the chain in
     * vector code, as the chain's own elementwise kernel does, and the update keeps its bits
     * (a scalar remainder may contract a multiply-add differently). */
    if (p->type.rank < 1 || p->type.dims[p->type.rank - 1] % SHARE_ROW_UNIT != 0 ||
        gc_type_numel(&p->type) % SHARE_NUMEL_UNIT != 0)
        return -1;
    /* A sum to one number runs on one thread: a long vector's update, which its own kernel
     * splits over the threads, stays there. */
    if (p->type.rank < 2 && gc_type_numel(&p->type) >= GC_SPLIT_MIN_WORK) return -1;
    int chain[SHARE_CHAIN], count = 0;
    chain[count++] = p->id;
    s->stamp++;
    s->mark[p->id] = s->stamp;
    /* The chain: p's elementwise operands of its shape read only inside the chain (or by an
     * update output), walked breadth first. A node reached before all its readers are in the
     * chain stays out of it: an outside value. */
    for (int c = 0; c < count; c++) {
        const gc_node *n = g->nodes[chain[c]];
        for (int k = 0; k < n->num_inputs; k++) {
            const gc_node *x = n->inputs[k];
            if (s->mark[x->id] == s->stamp || s->reported[x->id] || !prologue_shaped(x, &p->type)) continue;
            bool inside = true;
            for (int u = s->use_start[x->id]; u < s->use_start[x->id + 1] && inside; u++)
                inside = s->mark[s->users[u]] == s->stamp;
            if (!inside || count == SHARE_CHAIN) continue;
            s->mark[x->id] = s->stamp;
            chain[count++] = x->id;
        }
    }
    int stores = 0;
    for (int c = 0; c < count; c++) stores += s->is_output[chain[c]];
    /* The sum: a later kernel reading one of the chain's outside operands over p's shape. */
    int best = -1;
    for (int c = 0; c < count; c++) {
        const gc_node *n = g->nodes[chain[c]];
        for (int k = 0; k < n->num_inputs; k++) {
            const gc_node *x = n->inputs[k];
            if (s->mark[x->id] == s->stamp || !same_dims(&x->type, &p->type)) continue;
            for (int u = s->use_start[x->id]; u < s->use_start[x->id + 1]; u++) {
                int user = s->users[u];
                if (user <= p->id) continue;
                int r = s->root[user];
                if (r <= p->id || (best >= 0 && r >= best)) continue;
                const gc_node *root = g->nodes[r];
                if (!takes_siblings(root) || !same_dims(&root->inputs[0]->type, &p->type) ||
                    s->stores[r] + stores > GC_FUSE_MAX_STORES)
                    continue;
                best = r;
            }
        }
    }
    if (best < 0) return -1;
    /* A chain that squares a value the kernel's members also square (adagrad's g * g beside the
     * share's square of g) is left alone: LLVM would compute the two products once, and the
     * chain's product, then read twice, would no longer contract into its multiply-add as in the
     * chain's own kernel. */
    for (int c = 0; c < count; c++) {
        const gc_node *n = g->nodes[chain[c]];
        bool squares = n->op == GC_OP_SQUARE || (n->op == GC_OP_MUL && n->inputs[0] == n->inputs[1]);
        for (int m = best; squares && m >= 0; m = s->next[m]) {
            const gc_node *k = g->nodes[m];
            if ((k->op == GC_OP_SQUARE || (k->op == GC_OP_MUL && k->inputs[0] == k->inputs[1])) &&
                k->inputs[0] == n->inputs[0])
                return -1;
        }
    }
    /* Outside values of the kernel with the whole chain in it: what its members and the chain
     * read from neither. */
    int chain_stamp = s->stamp, outside = 0;
    s->stamp++;
    for (int c = -1; c < count; c++) {
        for (int m = c < 0 ? best : chain[c]; m >= 0; m = c < 0 ? s->next[m] : -1) {
            const gc_node *n = g->nodes[m];
            for (int k = 0; k < n->num_inputs; k++) {
                int x = n->inputs[k]->id;
                if (s->root[x] == best || s->mark[x] == chain_stamp || s->mark[x] == s->stamp) continue;
                s->mark[x] = s->stamp;
                outside++;
            }
        }
    }
    return outside <= GC_FUSE_MAX_EXTERNAL ? best : -1;
}

static int kernel_for(fuse_state *s, const gc_node *p) {
    const gc_graph *g = s->g;
    int id = p->id;
    if (s->use_start[id] == s->use_start[id + 1]) {
        int r = share_kernel(s, p);
        if (r >= 0) {
            s->stores[r]++;
            return r;
        }
    }
    if (!fusable_op(p) || s->use_start[id] == s->use_start[id + 1] || s->reported[id]) return id;
    if (takes_siblings(p)) {
        int c = sibling_kernel(s, p);
        if (c >= 0) {
            s->stores[c]++;
            return c;
        }
    }
    /* The first kernel that reads p; p may join it and be stored there for later kernels. */
    int r = -1;
    for (int u = s->use_start[id]; u < s->use_start[id + 1]; u++) {
        int ur = s->root[s->users[u]];
        if (ur < 0) return id;
        if (r < 0 || ur < r) r = ur;
    }
    fuse_rule rule = FUSE_NO;
    bool stored = s->is_output[id];
    for (int u = s->use_start[id]; u < s->use_start[id + 1]; u++) {
        const gc_node *user = g->nodes[s->users[u]];
        if (s->root[user->id] != r) {
            stored = true; /* a later kernel reads it */
            continue;
        }
        if (!fusable_op(user)) return id;
        rule = rules[gc_op_table[p->op].op_class][gc_op_table[user->op].op_class];
        if (is_pool(user->op) && gc_op_table[p->op].op_class == GC_CLASS_ELEMENTWISE) rule = FUSE_PROLOGUE;
        if (rule == FUSE_NO) return id;
    }
    const gc_node *root = g->nodes[r];
    bool pool = is_pool(root->op);
    bool reduction = gc_op_table[root->op].op_class == GC_CLASS_REDUCTION || pool;
    /* A value also needed elsewhere is stored where it is computed: a loop over its own shape can
     * do that, or a sum or mean whose prologue computes it once per operand element (a pool's
     * windows may overlap); each store is one more pointer of the kernel. */
    bool stores_here = reduction ? takes_siblings(root) : rule == FUSE_LOOP;
    if (stored && (!stores_here || gc_op_table[p->op].op_class != GC_CLASS_ELEMENTWISE ||
                   s->stores[r] >= GC_FUSE_MAX_STORES || (reduction && epilogue_candidate(s, p, 2))))
        return id;
    if (reduction && (!takes_prologue(root) || gc_op_table[p->op].op_class != GC_CLASS_ELEMENTWISE)) return id;
    const gc_type *space = reduction ? &root->inputs[0]->type : &root->type;
    if (!same_dims(&p->type, space)) return id;
    if (reduction)
        for (int k = 0; k < p->num_inputs; k++) {
            const gc_type *t = &p->inputs[k]->type;
            if (p->op == GC_OP_ONE_HOT && !pool && hot_index_of_rows(t, root)) continue;
            if (!same_dims(t, space) && gc_type_numel(t) != 1 && (pool || !result_shaped(t, root))) return id;
        }
    if (rule == FUSE_EPILOGUE) {
        if (s->has_gemm[r] || p->type.dtype != g->nodes[r]->type.dtype) return id;
        s->has_gemm[r] = true;
    }
    if (externals_with(s, r, id) > GC_FUSE_MAX_EXTERNAL) return id;
    if (stored) s->stores[r]++;
    return r;
}

int gc_fuse_partition(const gc_graph *g, bool enable, gc_fusion *out, gc_error *err) {
    memset(out, 0, sizeof *out);
    int n = g->num_nodes;
    size_t count = (size_t)n + 1;
    fuse_state s = {g, NULL, NULL, NULL, NULL, NULL, NULL, 0, NULL, NULL, NULL};
    s.has_gemm = calloc(count, sizeof *s.has_gemm);
    s.stores = calloc(count, sizeof *s.stores);
    s.reported = calloc(count, sizeof *s.reported);
    s.root = malloc(count * sizeof *s.root);
    s.next = malloc(count * sizeof *s.next);
    s.use_start = calloc(count + 1, sizeof *s.use_start);
    s.is_output = calloc(count, sizeof *s.is_output);
    s.mark = calloc(count, sizeof *s.mark);
    int uses = 0;
    for (int i = 0; i < n; i++) uses += g->nodes[i]->num_inputs;
    s.users = malloc((size_t)(uses + 1) * sizeof *s.users);
    int *fill = calloc(count, sizeof *fill);
    if (!s.root || !s.next || !s.use_start || !s.is_output || !s.mark || !s.users || !fill || !s.has_gemm ||
        !s.stores || !s.reported) {
        free(s.has_gemm);
        free(s.stores);
        free(s.reported);
        free(s.root);
        free(s.next);
        free(s.use_start);
        free(s.is_output);
        free(s.mark);
        free(s.users);
        free(fill);
        return gc_failf(err, GC_ERR_MEMORY, "out of memory: fusing %d nodes", n);
    }
    /* Users of each node, as compressed rows. */
    for (int i = 0; i < n; i++)
        for (int k = 0; k < g->nodes[i]->num_inputs; k++) s.use_start[g->nodes[i]->inputs[k]->id + 1]++;
    for (int i = 0; i < n; i++) s.use_start[i + 1] += s.use_start[i];
    for (int i = 0; i < n; i++)
        for (int k = 0; k < g->nodes[i]->num_inputs; k++) {
            int x = g->nodes[i]->inputs[k]->id;
            s.users[s.use_start[x] + fill[x]++] = i;
        }
    free(fill);
    for (int i = 0; i < n; i++) s.root[i] = -2; /* not visited yet */
    for (int i = 0; i < g->num_outputs; i++) {
        s.is_output[g->outputs[i].value->id] = true;
        /* A value or grad output stays a root: stored as a member of a later kernel it could move
         * past the updates (passes/plan.c puts the step's end after every such output). */
        if (g->outputs[i].kind != GC_OUTPUT_UPDATE) s.reported[g->outputs[i].value->id] = true;
    }

    for (int i = n - 1; i >= 0; i--) {
        const gc_node *node = g->nodes[i];
        s.next[i] = -1;
        if (gc_op_table[node->op].flags & GC_FLAG_NAMED) {
            s.root[i] = -1;
            continue;
        }
        int r = enable ? kernel_for(&s, node) : i;
        s.root[i] = r;
        if (r == i) {
            out->num_kernels++;
        } else {
            /* Members after the root in the list, newest (lowest id) first. */
            s.next[i] = s.next[r];
            s.next[r] = i;
            out->num_fused++;
        }
    }
    free(s.next);
    free(s.use_start);
    free(s.users);
    free(s.is_output);
    free(s.mark);
    free(s.has_gemm);
    free(s.stores);
    free(s.reported);
    out->num_nodes = n;
    out->root = s.root;
    return 1;
}

bool gc_fusion_stored(const gc_graph *g, const int *root, int i) {
    if (!root || root[i] < 0 || root[i] == i) return false;
    for (int k = 0; k < g->num_outputs; k++)
        if (g->outputs[k].value->id == i) return true;
    /* Users always come after their operands. */
    for (int j = i + 1; j < g->num_nodes; j++) {
        const gc_node *u = g->nodes[j];
        for (int k = 0; k < u->num_inputs; k++)
            if (u->inputs[k]->id == i && root[j] != root[i]) return true;
    }
    return false;
}

void gc_fusion_stored_all(const gc_graph *g, const int *root, bool *stored) {
    for (int i = 0; i < g->num_nodes; i++) stored[i] = false;
    if (!root) return;
    for (int k = 0; k < g->num_outputs; k++) stored[g->outputs[k].value->id] = true;
    for (int j = 0; j < g->num_nodes; j++) {
        const gc_node *u = g->nodes[j];
        for (int k = 0; k < u->num_inputs; k++) {
            int i = u->inputs[k]->id;
            if (root[j] != root[i]) stored[i] = true;
        }
    }
    /* Only a member of another node's kernel is a stored member; roots store themselves. */
    for (int i = 0; i < g->num_nodes; i++)
        if (root[i] < 0 || root[i] == i) stored[i] = false;
}

void gc_fusion_free(gc_fusion *f) {
    if (!f) return;
    free(f->root);
    f->root = NULL;
}
