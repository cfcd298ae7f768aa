"""Recurrent layers on (N, T, F) batches: lstm and gru, torch's math and weight layouts.

The input projection of every time step is one GEMM before the loop (x @ W_ih.T + biases);
the loop does only the recurrent product and the gates. The backward pass (BPTT) walks the
steps in reverse, collecting the pre-activation gradients of every step, then the kernels'
gradients are one GEMM each over all steps. Gate order LSTM i, f, g, o; GRU r, z, n with the
reset gate applied after the recurrent product (torch, Keras's reset_after=True). A
bidirectional layer runs a second set of tensors (`*_reverse`) on the time-reversed sequence
and concatenates [forward, backward] on the last axis; without return_sequences its output is
the forward direction's last state and the backward one's last (at t = 0), as Keras's
Bidirectional and torch's h_n.
"""

from __future__ import annotations

import numpy as np

from ...numerics import sigmoid_values

SUFFIXES = ("", "_reverse")

# --- evaluation -------------------------------------------------------------------------------


def lstm_direction(x, weight_ih, weight_hh, bias_ih, bias_hh):
    """(N, T, units): the hidden state after each step of one direction."""
    gx = x @ weight_ih.T + (bias_ih + bias_hh)
    n, steps, units = x.shape[0], x.shape[1], weight_hh.shape[1]
    h = np.zeros((n, units), x.dtype)
    c = np.zeros((n, units), x.dtype)
    out = np.empty((n, steps, units), x.dtype)
    for t in range(steps):
        z = gx[:, t] + h @ weight_hh.T
        i, f, o = (sigmoid_values(z[:, k * units : (k + 1) * units]) for k in (0, 1, 3))
        c = f * c + i * np.tanh(z[:, 2 * units : 3 * units])
        h = o * np.tanh(c)
        out[:, t] = h
    return out


def gru_direction(x, weight_ih, weight_hh, bias_ih, bias_hh):
    """(N, T, units): the hidden state after each step of one direction."""
    gx = x @ weight_ih.T + bias_ih
    n, steps, units = x.shape[0], x.shape[1], weight_hh.shape[1]
    h = np.zeros((n, units), x.dtype)
    out = np.empty((n, steps, units), x.dtype)
    for t in range(steps):
        gh = h @ weight_hh.T + bias_hh
        rz = sigmoid_values(gx[:, t, : 2 * units] + gh[:, : 2 * units])
        r, z = rz[:, :units], rz[:, units:]
        candidate = np.tanh(gx[:, t, 2 * units :] + r * gh[:, 2 * units :])
        h = (1 - z) * candidate + z * h
        out[:, t] = h
    return out


def recurrent_output(forward, backward, return_sequences):
    """The layer's output from the directions' state sequences (backward None if one-way);
    `backward` is in the reversed time order it was computed in."""
    if backward is None:
        return forward if return_sequences else forward[:, -1]
    if return_sequences:
        return np.concatenate([forward, backward[:, ::-1]], axis=-1)
    return np.concatenate([forward[:, -1], backward[:, -1]], axis=-1)


def _values(direction, x, weights: tuple, reverse: tuple, return_sequences):
    """A recurrent layer in evaluation mode: `direction` over x, and over x reversed with the
    `_reverse` weights when the layer is bidirectional."""
    forward = direction(x, *weights)
    backward = None if reverse[0] is None else direction(x[:, ::-1], *reverse)
    return recurrent_output(forward, backward, return_sequences)


def lstm_values(
    x,
    weight_ih,
    weight_hh,
    bias_ih,
    bias_hh,
    return_sequences,
    weight_ih_reverse=None,
    weight_hh_reverse=None,
    bias_ih_reverse=None,
    bias_hh_reverse=None,
):
    weights = (weight_ih, weight_hh, bias_ih, bias_hh)
    reverse = (weight_ih_reverse, weight_hh_reverse, bias_ih_reverse, bias_hh_reverse)
    return _values(lstm_direction, x, weights, reverse, return_sequences)


def gru_values(
    x,
    weight_ih,
    weight_hh,
    bias_ih,
    bias_hh,
    return_sequences,
    weight_ih_reverse=None,
    weight_hh_reverse=None,
    bias_ih_reverse=None,
    bias_hh_reverse=None,
):
    weights = (weight_ih, weight_hh, bias_ih, bias_hh)
    reverse = (weight_ih_reverse, weight_hh_reverse, bias_ih_reverse, bias_hh_reverse)
    return _values(gru_direction, x, weights, reverse, return_sequences)


# --- training ---------------------------------------------------------------------------------


def _lstm_train(x, w_ih, w_hh, b_ih, b_hh):
    """One direction: the states (N, T, u) and backprop(dh) -> (dx, grads), where dh is the
    gradient of every state (N, T, u) and grads is (dW_ih, dW_hh, db) (db both biases')."""
    n, steps, u = x.shape[0], x.shape[1], w_hh.shape[1]
    gx = x @ w_ih.T + (b_ih + b_hh)
    acts = np.empty((n, steps, 4 * u), x.dtype)  # i, f, g, o after their nonlinearities
    cells = np.empty((n, steps + 1, u), x.dtype)  # cells[:, t + 1] after step t
    hs = np.empty((n, steps + 1, u), x.dtype)
    cells[:, 0] = hs[:, 0] = 0
    for t in range(steps):
        z = gx[:, t] + hs[:, t] @ w_hh.T
        a = acts[:, t]
        a[:] = sigmoid_values(z)
        a[:, 2 * u : 3 * u] = np.tanh(z[:, 2 * u : 3 * u])
        cells[:, t + 1] = a[:, u : 2 * u] * cells[:, t] + a[:, :u] * a[:, 2 * u : 3 * u]
        hs[:, t + 1] = a[:, 3 * u :] * np.tanh(cells[:, t + 1])

    def backprop(dh_all):
        dz_all = np.empty_like(acts)
        dh = np.zeros((n, u), x.dtype)
        dc = np.zeros((n, u), x.dtype)
        for t in reversed(range(steps)):
            a = acts[:, t]
            i, f, g, o = a[:, :u], a[:, u : 2 * u], a[:, 2 * u : 3 * u], a[:, 3 * u :]
            dh = dh + dh_all[:, t]
            tc = np.tanh(cells[:, t + 1])
            dc = dc + dh * o * (1 - tc * tc)
            dz = dz_all[:, t]
            dz[:, :u] = dc * g * i * (1 - i)
            dz[:, u : 2 * u] = dc * cells[:, t] * f * (1 - f)
            dz[:, 2 * u : 3 * u] = dc * i * (1 - g * g)
            dz[:, 3 * u :] = dh * tc * o * (1 - o)
            dc = dc * f
            dh = dz @ w_hh
        return _kernel_grads(x, dz_all, dz_all, hs[:, :-1], w_ih)

    return hs[:, 1:], backprop


def _gru_train(x, w_ih, w_hh, b_ih, b_hh):
    """As _lstm_train, for the GRU; grads are (dW_ih, dW_hh, db_ih, db_hh)."""
    n, steps, u = x.shape[0], x.shape[1], w_hh.shape[1]
    gx = x @ w_ih.T + b_ih
    acts = np.empty((n, steps, 3 * u), x.dtype)  # r, z, n after their nonlinearities
    ghn = np.empty((n, steps, u), x.dtype)  # W_hn h + b_hn, which r multiplies
    hs = np.empty((n, steps + 1, u), x.dtype)
    hs[:, 0] = 0
    for t in range(steps):
        gh = hs[:, t] @ w_hh.T + b_hh
        a = acts[:, t]
        a[:, : 2 * u] = sigmoid_values(gx[:, t, : 2 * u] + gh[:, : 2 * u])
        ghn[:, t] = gh[:, 2 * u :]
        a[:, 2 * u :] = np.tanh(gx[:, t, 2 * u :] + a[:, :u] * ghn[:, t])
        z, cand = a[:, u : 2 * u], a[:, 2 * u :]
        hs[:, t + 1] = (1 - z) * cand + z * hs[:, t]

    def backprop(dh_all):
        dgx = np.empty_like(acts)
        dgh = np.empty_like(acts)
        dh = np.zeros((n, u), x.dtype)
        for t in reversed(range(steps)):
            a = acts[:, t]
            r, z, cand = a[:, :u], a[:, u : 2 * u], a[:, 2 * u :]
            dh = dh + dh_all[:, t]
            dn = dh * (1 - z) * (1 - cand * cand)
            dgx[:, t, 2 * u :] = dn
            dgh[:, t, 2 * u :] = dn * r
            dgx[:, t, :u] = dgh[:, t, :u] = dn * ghn[:, t] * r * (1 - r)
            dgx[:, t, u : 2 * u] = dgh[:, t, u : 2 * u] = dh * (hs[:, t] - cand) * z * (1 - z)
            dh = dh * z + dgh[:, t] @ w_hh
        return _kernel_grads(x, dgx, dgh, hs[:, :-1], w_ih)

    return hs[:, 1:], backprop


def _kernel_grads(x, dgx, dgh, h_prev, w_ih):
    """dx and (dW_ih, dW_hh, db_ih, db_hh) from the gates' pre-activation gradients of the
    input (dgx) and recurrent (dgh) products over all steps: one GEMM each."""
    gates = dgx.shape[-1]
    flat_x, flat_h = dgx.reshape(-1, gates), dgh.reshape(-1, gates)
    grads = (
        flat_x.T @ x.reshape(-1, x.shape[-1]),
        flat_h.T @ h_prev.reshape(-1, h_prev.shape[-1]),
        flat_x.sum(axis=0),
        flat_h.sum(axis=0),
    )
    return dgx @ w_ih, grads


def _recurrent(name: str, cell):
    def layer(node, ctx):
        t, p = ctx.tensors(node), node.params
        names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
        directions = SUFFIXES if p["bidirectional"] else SUFFIXES[:1]
        tensors = [[t.get(k + s) for k in names] for s in directions]
        grads = [[t.grad(k + s) for k in names] for s in directions]
        units, sequences = p["units"], p["return_sequences"]

        def forward(x):
            pairs = zip(directions, tensors, strict=True)
            runs = [cell(x if s == "" else x[:, ::-1], *w) for s, w in pairs]
            states = [h for h, _ in runs]
            y = recurrent_output(states[0], states[1] if len(states) > 1 else None, sequences)

            def backprop(dy):
                dx = np.zeros_like(x)
                for k, (s, (h, back)) in enumerate(zip(directions, runs, strict=True)):
                    part = dy[..., k * units : (k + 1) * units]
                    dh = part if sequences else np.zeros_like(h)
                    if sequences and s:
                        dh = part[:, ::-1]  # the backward run's own (reversed) time order
                    elif not sequences:
                        dh[:, -1] = part
                    d_in, values = back(np.ascontiguousarray(dh))
                    dx += d_in if s == "" else d_in[:, ::-1]
                    for buffer, value in zip(grads[k], values, strict=True):
                        np.copyto(buffer, value)
                return dx

            return y, backprop

        return forward

    layer.__name__ = layer.__qualname__ = name  # named as its registry key, as every layer
    return layer


lstm = _recurrent("lstm", _lstm_train)
gru = _recurrent("gru", _gru_train)
