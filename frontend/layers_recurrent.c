/*
 * layers_recurrent.c: rnn, lstm and gru as nn.RNN, nn.LSTM and nn.GRU (batch_first=True).
 *
 * Each layer and direction is the input projection of every step as one matmul
 * (x @ weight_ih^T + bias_ih over [N*T, I]), then one recurrence op (ir/recurrence.h) that runs
 * the loop over time, so the graph and the code have the same size for any sequence length. The
 * output sequence and the final states are slices of the packed result. A reverse direction runs
 * over the same inputs from the last step to the first, and its outputs stay indexed by time, so
 * [forward, reverse] concatenated along features is torch's bidirectional output.
 */
#include <math.h>
#include <stdio.h>

#include "frontend/layers.h"
#include "ir/recurrence.h"

static int call_error(gc_layer_context *c, const char *layer, const char *what, const gc_type *a, const gc_type *b) {
    char sa[96] = "", sb[96] = "";
    if (a) gc_type_format(a, sa, sizeof sa);
    if (b) gc_type_format(b, sb, sizeof sb);
    return gc_fail(c->b.err, GC_ERR_USER, c->b.loc, "%s: %s%s%s%s", layer, what, sa, b ? ", got " : "", sb);
}

static gc_node *weight(gc_layer_context *c, const char *path, const char *layer, const char *kind, int l, bool rev,
                       int rank, int64_t d0, int64_t d1, double bound) {
    char name[512];
    int n = snprintf(name, sizeof name, "%s%s%s_l%d%s", path && *path ? path : "", path && *path ? "." : "", kind, l,
                     rev ? "_reverse" : "");
    if (n < 0 || (size_t)n >= sizeof name) {
        gc_fail(c->b.err, GC_ERR_USER, c->b.loc, "parameter name '%s.%s' is too long", path, kind);
        return NULL;
    }
    int64_t dims[2] = {d0, d1};
    gc_type t = gc_type_make(GC_F32, rank, dims);
    return gc_layer_param(c, name, layer, &t, (gc_init){GC_INIT_UNIFORM, -bound, bound});
}

/* State k of [D*L, N, H] as [N, H], or zeros when no state was given. */
static gc_node *initial_state(gc_builder *b, gc_node *states, int k, int64_t batch, int64_t hidden) {
    int64_t d2[2] = {batch, hidden};
    if (!states) {
        gc_type t = gc_type_make(GC_F32, 2, d2);
        return gc_fill(b, &t, 0.0);
    }
    return gc_reshape(b, gc_slice(b, states, 0, k, k + 1), 2, d2);
}

static bool check_state(gc_layer_context *c, const char *layer, const char *name, gc_node *s, int64_t count,
                        int64_t batch, int64_t hidden) {
    if (!s) return true;
    int64_t d[3] = {count, batch, hidden};
    gc_type want = gc_type_make(GC_F32, 3, d);
    if (gc_type_equal(&s->type, &want)) return true;
    char what[64];
    snprintf(what, sizeof what, "%s must be ", name);
    call_error(c, layer, what, &want, &s->type);
    return false;
}

gc_node *gc_layer_recurrent(gc_layer_context *c, const char *path, gc_node *x, const gc_recurrent_args *args,
                            gc_node **h_n, gc_node **c_n) {
    gc_builder *b = &c->b;
    const char *layer = args->cell == GC_CELL_LSTM ? "lstm" : args->cell == GC_CELL_GRU ? "gru" : "rnn";
    if (!x) return NULL;
    if (x->type.dtype != GC_F32 || x->type.rank != 3) {
        call_error(c, layer, "needs x as f32 [batch, time, features] (batch_first)", NULL, &x->type);
        return NULL;
    }
    if (args->hidden < 1 || args->num_layers < 1) {
        gc_fail(b->err, GC_ERR_USER, b->loc, "%s: hidden_size and num_layers must be at least 1, got %lld and %lld", layer,
                (long long)args->hidden, (long long)args->num_layers);
        return NULL;
    }
    int64_t N = x->type.dims[0], T = x->type.dims[1], H = args->hidden, G = gc_cell_gates(args->cell);
    int D = args->bidirectional ? 2 : 1;
    int64_t states = D * args->num_layers;
    bool lstm = args->cell == GC_CELL_LSTM;
    if (!check_state(c, layer, "h0", args->h0, states, N, H) || !check_state(c, layer, "c0", args->c0, states, N, H))
        return NULL;
    if (states > 64) {
        gc_fail(b->err, GC_ERR_USER, b->loc, "%s: at most 64 layers times directions, got %lld", layer, (long long)states);
        return NULL;
    }
    double bound = 1.0 / sqrt((double)H);
    gc_node *finals_h[64], *finals_c[64], *in = x;
    int64_t last3[3] = {1, N, H};
    for (int l = 0; l < args->num_layers; l++) {
        int64_t width = in->type.dims[2];
        gc_node *outs[2];
        for (int d = 0; d < D; d++) {
            bool rev = d == 1;
            gc_node *w_ih = weight(c, path, layer, "weight_ih", l, rev, 2, G * H, width, bound);
            gc_node *w_hh = weight(c, path, layer, "weight_hh", l, rev, 2, G * H, H, bound);
            gc_node *b_ih = NULL, *b_hh = NULL;
            if (args->bias) {
                b_ih = weight(c, path, layer, "bias_ih", l, rev, 1, G * H, 0, bound);
                b_hh = weight(c, path, layer, "bias_hh", l, rev, 1, G * H, 0, bound);
                if (!b_ih || !b_hh) return NULL;
            } else {
                int64_t gh = G * H;
                gc_type t = gc_type_make(GC_F32, 1, &gh);
                b_hh = gc_fill(b, &t, 0.0);
            }
            if (!w_ih || !w_hh) return NULL;
            int k = l * D + d;
            gc_node *ops[5] = {gc_apply_linear(c, in, w_ih, b_ih), w_hh, b_hh, initial_state(b, args->h0, k, N, H),
                               lstm ? initial_state(b, args->c0, k, N, H) : NULL};
            gc_attr a = {0};
            a.recurrence.cell = args->cell;
            a.recurrence.reverse = rev;
            gc_node *packed = gc_build(b, GC_OP_RECURRENCE, ops, gc_cell_operands(args->cell), &a, NULL);
            if (!packed) return NULL;
            int64_t hcol = gc_cell_h_column(args->cell) * H, at = rev ? 0 : T - 1;
            outs[d] = gc_slice(b, packed, 2, hcol, hcol + H);
            finals_h[k] = gc_reshape(b, gc_slice(b, outs[d], 1, at, at + 1), 3, last3);
            if (lstm) {
                int64_t ccol = GC_CELL_LSTM_C_COLUMN * H;
                finals_c[k] = gc_reshape(b, gc_slice(b, gc_slice(b, packed, 2, ccol, ccol + H), 1, at, at + 1), 3, last3);
            }
        }
        in = D == 2 ? gc_concat(b, outs, 2, 2) : outs[0];
        if (!in) return NULL;
    }
    if (h_n) *h_n = states > 1 ? gc_concat(b, finals_h, (int)states, 0) : finals_h[0];
    if (c_n && lstm) *c_n = states > 1 ? gc_concat(b, finals_c, (int)states, 0) : finals_c[0];
    return in;
}
