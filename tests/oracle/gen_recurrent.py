"""gen_recurrent.py OUTDIR: PyTorch's answers for rnn, lstm and gru (tests/unit/test_recurrent.c).

For each case, OUTDIR/recurrent/<case>/ gets every source of the gradc graph as src.<name>.npy
(the module's parameters under their state_dict names, x, h0 and c0 when given, and the weights
w_out, w_h, w_c of the objective), the outputs out.npy, h_n.npy (and c_n.npy), and the gradient of
sum(out * w_out) + sum(h_n * w_h) (+ sum(c_n * w_c)) for every parameter, x, h0 and c0 as
grad.<name>.npy. Weights are redrawn from a fixed seed at a scale that keeps the gates away from
saturation, so a wrong gate or a swapped gate order shows.
"""
import os
import sys

import numpy as np
import torch
import torch.nn as nn

torch.manual_seed(0)
torch.set_num_threads(1)
OUT = os.path.join(sys.argv[1], "recurrent")

# name, module class, kwargs, batch, steps, input, h0 given, c0 given
CASES = [
    ("rnn_tanh", nn.RNN, dict(hidden_size=4), 3, 6, 5, False, False),
    ("rnn_relu_2layers_h0", nn.RNN, dict(hidden_size=4, num_layers=2, nonlinearity="relu"), 3, 5, 5, True, False),
    ("rnn_bi_nobias", nn.RNN, dict(hidden_size=3, bidirectional=True, bias=False), 2, 4, 5, False, False),
    ("lstm", nn.LSTM, dict(hidden_size=4), 3, 6, 5, False, False),
    ("lstm_2layers_bi_h0_c0", nn.LSTM, dict(hidden_size=4, num_layers=2, bidirectional=True), 3, 5, 5, True, True),
    ("lstm_nobias_h0", nn.LSTM, dict(hidden_size=6, bias=False), 2, 7, 3, True, False),
    ("gru", nn.GRU, dict(hidden_size=4), 3, 6, 5, False, False),
    ("gru_bi_h0", nn.GRU, dict(hidden_size=4, bidirectional=True), 2, 5, 5, True, False),
    ("gru_3layers_nobias", nn.GRU, dict(hidden_size=3, num_layers=3, bias=False), 2, 4, 4, False, False),
]


def save(case, tensors):
    d = os.path.join(OUT, case)
    os.makedirs(d, exist_ok=True)
    for name, t in tensors.items():
        np.save(os.path.join(d, name + ".npy"), np.ascontiguousarray(t.detach().numpy().astype(np.float32)))


for name, cls, kw, n, steps, inp, has_h0, has_c0 in CASES:
    m = cls(inp, batch_first=True, **kw)
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(torch.randn_like(p) * 0.4)
    states = (2 if kw.get("bidirectional") else 1) * kw.get("num_layers", 1)
    x = torch.randn(n, steps, inp, requires_grad=True)
    src = {"x": x}
    h0 = c0 = None
    if has_h0:
        h0 = (torch.randn(states, n, kw["hidden_size"]) * 0.5).requires_grad_()
        src["h0"] = h0
    if has_c0:
        c0 = (torch.randn(states, n, kw["hidden_size"]) * 0.5).requires_grad_()
        src["c0"] = c0
    lstm = cls is nn.LSTM
    if lstm:
        hx = None
        if h0 is not None or c0 is not None:
            hx = (h0 if h0 is not None else torch.zeros(states, n, kw["hidden_size"]),
                  c0 if c0 is not None else torch.zeros(states, n, kw["hidden_size"]))
        out, (h_n, c_n) = m(x, hx)
    else:
        out, h_n = m(x, h0)
        c_n = None
    w_out, w_h = torch.randn_like(out), torch.randn_like(h_n)
    loss = (out * w_out).sum() + (h_n * w_h).sum()
    src["w_out"], src["w_h"] = w_out, w_h
    res = {"out": out, "h_n": h_n}
    if lstm:
        w_c = torch.randn_like(c_n)
        loss = loss + (c_n * w_c).sum()
        src["w_c"] = w_c
        res["c_n"] = c_n
    loss.backward()
    t = {"src." + k: v for k, v in src.items()}
    t.update(res)
    for pname, p in m.named_parameters():
        t["src." + pname] = p
        t["grad." + pname] = p.grad
    for k in ("x", "h0", "c0"):
        if k in src:
            t["grad." + k] = src[k].grad
    save(name, t)
