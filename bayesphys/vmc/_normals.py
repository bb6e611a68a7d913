"""Standard normals from ``torch.rand`` exactly as torch's CPU ``randn`` makes them, vectorised.

``torch.randn`` in float64 on CPU (``n >= 16``) fills ``n`` uniforms from the generator and turns
each chunk of 16 into normals with a scalar Box-Muller loop, which costs more than drawing
the uniforms. :func:`normals_from_uniforms` applies the same transform to ``torch.rand`` output
with vectorised tensor operations, which consumes the generator identically and gives the same
numbers up to the last bit of ``log``/``cos``. :func:`uniforms_reproduce_randn` checks that at
first use, so a torch build that fills ``randn`` differently only loses speed, never the chain.

Scratch buffers: a :data:`Workspace` maps names to reused float64 tensors; without one
(``None``) every operation allocates, as ``torch.compile`` and one-off calls want.
"""

from __future__ import annotations

import functools
import math

import torch
from torch import Tensor

__all__ = [
    "CHUNK",
    "Workspace",
    "adapt_allocator",
    "buf",
    "n_uniforms",
    "normals_from_uniforms",
    "uniforms_reproduce_randn",
]

CHUNK = 16  # torch's CPU normal_fill transforms uniforms in chunks of 16 (8 cos + 8 sin)

Workspace = dict[str, Tensor]


@functools.cache
def adapt_allocator() -> None:
    """Free one 24 MiB block once, so that glibc keeps freed walker-sized blocks for reuse.

    glibc serves blocks above its mmap threshold (initially 128 KiB) with fresh pages and, after
    such a block is freed, raises that threshold to its size and the heap-trim threshold to
    twice that (up to 32 MiB). The ~10 MB of step outputs freed every step otherwise sit just
    above the trim threshold, get returned to the system and page-fault back in on the next
    step, a third of the compiled step's time. Freeing one larger block up front is the same
    adaptation glibc makes after any large array is freed; other allocators ignore it.
    """
    block = torch.empty(3 * 2**20, dtype=torch.float64)  # never touched: no page faults
    del block


def buf(ws: Workspace | None, name: str, shape: torch.Size | tuple[int, ...]) -> Tensor | None:
    """Reusable float64 scratch tensor ``name`` of ``shape`` (None without a workspace, so that
    ``out=None`` makes the op allocate, as ``torch.compile`` and one-off calls want)."""
    if ws is None:
        return None
    buf = ws.get(name)
    if buf is None or buf.shape != shape:
        buf = ws[name] = torch.empty(shape, dtype=torch.float64)
    return buf


def normals_from_uniforms(u: Tensor, n: int, ws: Workspace | None = None) -> Tensor:
    """``n`` standard normals from uniforms laid out as torch's CPU ``randn`` consumes them.

    Parameters
    ----------
    u : Tensor
        ``n`` uniforms on ``[0, 1)``, plus 16 more when ``n`` is not a multiple of 16 (torch
        redraws the last 16 values then). Needs ``n >= 16``.
    n : int
        Number of normals.
    ws : dict, optional
        Scratch buffers to reuse (the result then lives in one of them).

    Returns
    -------
    Tensor
        Shape ``(n,)``: in each chunk of 16, ``sqrt(-2 ln(1 - u_j)) cos(2 pi u_{j+8})`` and the
        matching ``sin`` at ``j + 8``.
    """
    head = n - n % CHUNK
    out = _box_muller(u[:head], ws)
    if n % CHUNK:
        out = torch.cat([out[: n - CHUNK], _box_muller(u[n : n + CHUNK], None)])
    return out


def _box_muller(u: Tensor, ws: Workspace | None) -> Tensor:
    chunks = u.view(-1, 2, CHUNK // 2)
    half = chunks[:, 0].shape
    radius = torch.sub(1.0, chunks[:, 0], out=buf(ws, "bm_radius", half))
    radius = radius.log_().mul_(-2.0).sqrt_()
    angle = torch.mul(chunks[:, 1], 2.0 * math.pi, out=buf(ws, "bm_angle", half))
    trig = buf(ws, "bm_trig", half)
    out = buf(ws, "bm_out", chunks.shape)
    out = torch.empty_like(chunks) if out is None else out
    torch.mul(radius, torch.cos(angle, out=trig), out=out[:, 0])
    torch.mul(radius, torch.sin(angle, out=trig), out=out[:, 1])
    return out.view(-1)


def n_uniforms(n: int) -> int:
    """Uniforms that ``randn(n)`` consumes: ``n``, plus 16 redrawn when ``n % 16 != 0``."""
    return n + (CHUNK if n % CHUNK else 0)


@functools.cache
def uniforms_reproduce_randn() -> bool:
    """Whether :func:`normals_from_uniforms` matches this torch build's CPU ``randn``."""
    for n in (48, 20):
        g = torch.Generator().manual_seed(12345)
        expected = torch.randn(n, generator=g, dtype=torch.float64)
        after = torch.rand(3, generator=g, dtype=torch.float64)
        g.manual_seed(12345)
        u = torch.rand(n_uniforms(n) + 3, generator=g, dtype=torch.float64)
        got = normals_from_uniforms(u, n)
        if not (torch.allclose(got, expected, rtol=0, atol=1e-13) and torch.equal(u[-3:], after)):
            return False
    return True
