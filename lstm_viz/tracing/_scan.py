"""The gates' activations and the cell state's scan in torch ops, on any device.

Private: ``_kernels`` (the fused method) and ``_cuda`` (the layered method on a GPU, where no
Triton kernel runs) scan c_t = f_t c_{t-1} + i_t g_t in log2(T) rounds of whole-tensor
operations instead of T small steps.
"""

from __future__ import annotations

import torch

Tensor = torch.Tensor


def activate(z4: Tensor) -> None:
    """In place on (..., 4, H) pre-activations: sigmoid on i, f and o, tanh on g."""
    z4[..., :2, :].sigmoid_()
    z4[..., 2, :].tanh_()
    z4[..., 3, :].sigmoid_()


def log_scan(a: Tensor, b: Tensor, c0: Tensor, out: Tensor) -> None:
    """out[t] = a[t] * out[t-1] + b[t] with out[-1] = c0, for (T, ...) tensors, in log2(T)
    rounds of whole-tensor operations (a Hillis-Steele scan: (a1, b1) then (a2, b2) composes to
    (a1 a2, a2 b1 + b2)). Equal to the sequential recurrence to rounding."""
    T = a.shape[0]
    A = a.clone()
    out.copy_(b)
    out[0].addcmul_(A[0], c0)
    k = 1
    while k < T:
        new_b = torch.addcmul(out[k:], A[k:], out[:-k])
        A[k:] = A[k:] * A[:-k]
        out[k:] = new_b
        k *= 2


def torch_act_scan(gates: Tensor, c0: Tensor, c: Tensor, backwards: bool = False) -> str:
    """The gates (T, B, 4, H) activated in place and c (T, B, H) scanned from them in reading
    order (``backwards``: positions T-1 down to 0) by torch ops, a few launches per doubling of
    T. Returns "torch_log_scan"."""
    activate(gates)
    a, b = gates[:, :, 1], gates[:, :, 0] * gates[:, :, 2]
    if backwards:
        tmp = torch.empty_like(c)
        log_scan(a.flip(0), b.flip(0), c0, out=tmp)
        c.copy_(tmp.flip(0))
    else:
        log_scan(a, b, c0, out=c)
    return "torch_log_scan"
