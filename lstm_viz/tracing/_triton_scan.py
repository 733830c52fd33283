"""The layered method's cell-state scan on a GPU in one Triton kernel.

Private, and imported only by ``_cuda`` where Triton is installed (importing it elsewhere raises
ImportError, which ``_cuda`` takes as "not here"). One program per block of (batch, unit) pairs
loops over time: it activates that step's i, f, g, o in place (tanh(z) as 2 sigmoid(2z) - 1)
and computes c_t = f_t c_{t-1} + i_t g_t, reading positions ``first``, ``first + sign``, ...
"""

from __future__ import annotations

import triton
import triton.language as tl


@triton.jit
def act_scan_kernel(z_ptr, c0_ptr, c_ptr, T, N, H, z_t, z_b, c0_b, c_t, c_b, first, sign,
                    BLOCK: tl.constexpr):
    """gates z (T, B, 4, H) with strides (z_t, z_b, H, 1), c0 (B, H) with (c0_b, 1), c (T, B, H)
    with (c_t, c_b, 1); N = B * H."""
    n = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = n < N
    b = (n // H).to(tl.int64)
    u = (n % H).to(tl.int64)
    z_row = b * z_b + u
    c_row = b * c_b + u
    c_prev = tl.load(c0_ptr + b * c0_b + u, mask=mask, other=0.0)
    for s in range(T):
        t = (first + s * sign).to(tl.int64)
        zp = z_ptr + t * z_t + z_row
        i = tl.sigmoid(tl.load(zp, mask=mask, other=0.0))
        f = tl.sigmoid(tl.load(zp + H, mask=mask, other=0.0))
        g = 2.0 * tl.sigmoid(2.0 * tl.load(zp + 2 * H, mask=mask, other=0.0)) - 1.0
        o = tl.sigmoid(tl.load(zp + 3 * H, mask=mask, other=0.0))
        tl.store(zp, i, mask=mask)
        tl.store(zp + H, f, mask=mask)
        tl.store(zp + 2 * H, g, mask=mask)
        tl.store(zp + 3 * H, o, mask=mask)
        c_prev = f * c_prev + i * g
        tl.store(c_ptr + t * c_t + c_row, c_prev, mask=mask)
