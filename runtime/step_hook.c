/* step_hook.c: which nodes a step's hooks concern, and the call compiled code makes
 * (runtime/step_hook.h). */
#include "runtime/step_hook.h"

#include <string.h>

void gc_step_hook(void *ctx, int32_t event, int32_t node) {
    gc_step_hook_ctx *h = ctx;
    const gc_node *n = node >= 0 && node < h->graph->num_nodes ? h->graph->nodes[node] : NULL;
    /* An all_reduce_sum is the root of a kernel of its own: the kernel that just ended computed it. */
    if (event == GC_HOOK_KERNEL_DONE && n && n->op == GC_OP_ALL_REDUCE_SUM && h->offsets[node] >= 0)
        h->hooks.event(h->hooks.user, GC_HOOK_ALL_REDUCE, n, h->arena + h->offsets[node], n->type.dtype,
                       gc_type_numel(&n->type));
    else if (event == GC_HOOK_GRAD_READY && n && h->offsets[node] >= 0)
        h->hooks.event(h->hooks.user, event, n, h->arena + h->offsets[node], n->type.dtype, gc_type_numel(&n->type));
    else
        h->hooks.event(h->hooks.user, event == GC_HOOK_GRAD_READY ? GC_HOOK_KERNEL_DONE : event, NULL, NULL, GC_F32, 0);
}

void gc_step_hook_plan(const gc_graph *g, bool *is_grad, bool *reads_grad) {
    memset(is_grad, 0, sizeof *is_grad * (size_t)g->num_nodes);
    memset(reads_grad, 0, sizeof *reads_grad * (size_t)g->num_nodes);
    /* A gradient that reshapes another value is that value: the simplifier lets readers (the
     * clipping norm) read it directly, so it is the one averaged, and the reshape copies it after. */
    for (int i = 0; i < g->num_outputs; i++) {
        if (g->outputs[i].kind != GC_OUTPUT_GRAD) continue;
        const gc_node *v = g->outputs[i].value;
        while (v->op == GC_OP_RESHAPE) v = v->inputs[0];
        is_grad[v->id] = true;
    }
    for (int i = 0; i < g->num_nodes; i++) {
        const gc_node *n = g->nodes[i];
        /* A gradient is never a source; a source named like one is a param or state. */
        if (gc_op_table[n->op].flags & GC_FLAG_NAMED) is_grad[i] = false;
    }
    for (int i = 0; i < g->num_nodes; i++) {
        const gc_node *n = g->nodes[i];
        for (int k = 0; k < n->num_inputs && !reads_grad[i]; k++) reads_grad[i] = is_grad[n->inputs[k]->id];
    }
}
