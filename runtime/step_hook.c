/* step_hook.c: which nodes a step's hooks concern (runtime/step_hook.h). */
#include "runtime/step_hook.h"

#include <string.h>

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
