/*
 * recurrence.h: the cells of the recurrence ops (rnn, lstm, gru) and how their packed results
 * are laid out. Shared by the shape rules, the interpreter, the runtime loop, autodiff and the
 * layer builders, so every stage reads the same columns.
 *
 * recurrence(xproj [N, T, G*H], w_hh [G*H, H], b_hh [G*H], h0 [N, H] (, c0 [N, H] for lstm))
 * runs the cell over time and returns [N, T, S*H], per step (columns in units of H):
 *   rnn:  h                          (S = 1, G = 1)
 *   lstm: i, f, g, o, c, h           (S = 6, G = 4; gates after their activations)
 *   gru:  r, z, hn, n, h             (S = 5, G = 3; hn = W_hn h_prev + b_hn, before r scales it)
 * Time index t is the sequence position whatever the direction: a reverse recurrence runs from
 * t = T - 1 down to 0, so its output lines up with the forward one as torch's does.
 *
 * recurrence_grad(packed, dpacked, w_hh, h0 (, c0)) is the loop backwards: [N, T + 1, G'*H] with,
 * for t < T, the gradients of the gates' pre-activations (rnn: [dpre]; lstm: [di, df, dg, do];
 * gru: [dr, dz, dhn, dn], G' = 4, where dhn is the hidden side of the n gate and dn its input side);
 * row T holds dh0 in columns [0, H) and dc0 (lstm) in [H, 2H), zeros elsewhere.
 */
#ifndef GC_IR_RECURRENCE_H
#define GC_IR_RECURRENCE_H

#include <stdint.h>

typedef enum gc_cell {
    GC_CELL_RNN_TANH = 0,
    GC_CELL_RNN_RELU = 1,
    GC_CELL_LSTM = 2,
    GC_CELL_GRU = 3,
} gc_cell;

#define GC_CELL_COUNT 4

/* Gates per step (rows of w_hh per hidden unit): 1, 4 or 3. */
static inline int gc_cell_gates(int cell) { return cell == GC_CELL_LSTM ? 4 : cell == GC_CELL_GRU ? 3 : 1; }
/* Columns of the packed result per step, in units of H. */
static inline int gc_cell_packed(int cell) { return cell == GC_CELL_LSTM ? 6 : cell == GC_CELL_GRU ? 5 : 1; }
/* Columns of the gradient result per step, in units of H. */
static inline int gc_cell_grad_width(int cell) { return cell == GC_CELL_RNN_TANH || cell == GC_CELL_RNN_RELU ? 1 : 4; }
/* Where h sits in the packed result, in units of H. */
static inline int gc_cell_h_column(int cell) { return cell == GC_CELL_LSTM ? 5 : cell == GC_CELL_GRU ? 4 : 0; }
/* Where c sits (lstm only). */
#define GC_CELL_LSTM_C_COLUMN 4
/* Operands: xproj, w_hh, b_hh, h0, and c0 for lstm. */
static inline int gc_cell_operands(int cell) { return cell == GC_CELL_LSTM ? 5 : 4; }

#endif
