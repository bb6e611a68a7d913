"""Slater determinants of 2-D Hermite-function orbitals for closed-shell quantum dots.

The oscillator orbitals are ``H_nx(sqrt(2 alpha) x) H_ny(sqrt(2 alpha) y) exp(-alpha r^2)``;
the Gaussian is common to all orbitals, so it is kept as a separate :class:`Gaussian` factor
and the determinants hold only the polynomials. Particles ``0 .. N/2 - 1`` are spin up, the rest
spin down (the same convention as the Pade cusps), so ``psi = det_up * det_down``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from bayesphys.core.validation import check_positive_int
from bayesphys.vmc.wavefunctions.base import Product, WaveFunction, as_parameter
from bayesphys.vmc.wavefunctions.gaussian import Gaussian, PadeJastrow

__all__ = ["SlaterDeterminant", "SlaterJastrow", "closed_shell_orbitals", "hermite"]


def hermite(n: int, x: Tensor) -> Tensor:
    """Physicists' Hermite polynomial ``H_n(x)`` by the three-term recurrence."""
    h_prev, h = torch.ones_like(x), 2.0 * x
    if n == 0:
        return h_prev
    for k in range(1, n):
        h_prev, h = h, 2.0 * x * h - 2.0 * k * h_prev
    return h


def closed_shell_orbitals(n_per_spin: int) -> list[tuple[int, int]]:
    """Quantum numbers ``(nx, ny)`` filling the lowest 2-D shells with ``n_per_spin`` orbitals."""
    orbitals, shell = [], 0
    while len(orbitals) < n_per_spin:
        orbitals.extend((shell - ny, ny) for ny in range(shell + 1))
        shell += 1
    if len(orbitals) != n_per_spin:
        raise ValueError(
            f"{2 * n_per_spin} electrons do not close a 2-D shell; use 2, 6, 12, 20, ..."
        )
    return orbitals


class SlaterDeterminant(WaveFunction):
    """``det_up * det_down`` of Hermite polynomials (2-D closed shells), closed-form derivatives.

    Parameters
    ----------
    n_particles : int
        Even number of electrons closing a shell (2, 6, 12, 20, ...).
    alpha : float
        Scale of the Hermite argument ``sqrt(2 alpha) x`` (fixed); ``omega / 2`` is exact
        without interaction.
    """

    analytic = True
    positive = ("alpha",)

    def __init__(self, n_particles: int, alpha: float = 0.5) -> None:
        super().__init__()
        n = check_positive_int(n_particles, "n_particles")
        if n % 2:
            raise ValueError(f"n_particles must be even (closed shells), got {n}")
        self.n_particles = n
        self.orbitals = closed_shell_orbitals(n // 2)
        # Not trained: in a closed shell, lower-order Hermite terms are column combinations of
        # lower orbitals, so the determinant depends on the scale only through a constant
        # factor and d ln|det| / d alpha has zero variance (no gradient signal).
        self.register_buffer("alpha", as_parameter(alpha, "alpha", positive=True).detach())

    def _matrix(self, R: Tensor) -> Tensor:
        """``(walkers, N, N/2)``: orbital k of particle i."""
        scaled = torch.sqrt(2.0 * self.alpha) * R
        max_n = max(max(o) for o in self.orbitals)
        hx = [hermite(k, scaled[..., 0]) for k in range(max_n + 1)]
        hy = [hermite(k, scaled[..., 1]) for k in range(max_n + 1)]
        return torch.stack([hx[nx] * hy[ny] for nx, ny in self.orbitals], dim=-1)

    def _check(self, R: Tensor) -> None:
        if R.shape[1:] != (self.n_particles, 2):
            raise ValueError(
                f"R must have shape (walkers, {self.n_particles}, 2) for this 2-D Slater "
                f"determinant, got {tuple(R.shape)}"
            )

    def log_psi(self, R: Tensor) -> Tensor:
        """``ln|det_up| + ln|det_down|``."""
        self._check(R)
        half = self.n_particles // 2
        M = self._matrix(R)
        up = torch.linalg.slogdet(M[:, :half]).logabsdet
        down = torch.linalg.slogdet(M[:, half:]).logabsdet
        return up + down

    def _orbital_derivatives(self, R: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Orbitals, their gradients and Laplacians: ``(W, N, N/2)``, ``(W, N, N/2, 2)``, ...

        ``d/dx H_n(c x) = 2 n c H_{n-1}(c x)`` and ``d2/dx2 H_n(c x) = 4 n (n-1) c^2 H_{n-2}``.
        """
        c = torch.sqrt(2.0 * self.alpha)
        scaled = c * R
        max_n = max(max(o) for o in self.orbitals)
        h = [[hermite(k, scaled[..., axis]) for k in range(max_n + 1)] for axis in (0, 1)]

        def d1(axis: int, n: int) -> Tensor:
            return 2.0 * n * c * h[axis][n - 1] if n > 0 else torch.zeros_like(h[axis][0])

        def d2(axis: int, n: int) -> Tensor:
            if n < 2:
                return torch.zeros_like(h[axis][0])
            return 4.0 * n * (n - 1) * c * c * h[axis][n - 2]

        phi, grad, lap = [], [], []
        for nx, ny in self.orbitals:
            hx, hy = h[0][nx], h[1][ny]
            phi.append(hx * hy)
            grad.append(torch.stack([d1(0, nx) * hy, hx * d1(1, ny)], -1))
            lap.append(d2(0, nx) * hy + hx * d2(1, ny))
        return torch.stack(phi, -1), torch.stack(grad, -2), torch.stack(lap, -1)

    def grad_lap(self, R: Tensor) -> tuple[Tensor, Tensor]:
        """Closed form from the inverse Slater matrices (only row ``i`` depends on ``r_i``).

        ``grad_i ln|D| = sum_k grad phi_k(r_i) (A^-1)_ki`` and
        ``lap_i ln|D| = sum_k lap phi_k(r_i) (A^-1)_ki - |grad_i ln|D||^2``; this replaces
        the ``2 N`` backward passes of the autograd Laplacian.
        """
        self._check(R)
        half = self.n_particles // 2
        with torch.no_grad():
            phi, dphi, d2phi = self._orbital_derivatives(R)
            grads, laps = [], []
            for rows in (slice(0, half), slice(half, None)):
                # A singular matrix (a walker exactly on a node, probability zero) gives NaN,
                # which the estimators report instead of a silently wrong energy.
                inv, info = torch.linalg.inv_ex(phi[:, rows])
                inv = torch.where((info == 0)[:, None, None], inv, torch.nan)
                g = torch.einsum("wikd,wki->wid", dphi[:, rows], inv)
                lap_ratio = torch.einsum("wik,wki->wi", d2phi[:, rows], inv)
                grads.append(g)
                laps.append((lap_ratio - (g * g).sum(-1)).sum(-1))
        return torch.cat(grads, 1), laps[0] + laps[1]


class SlaterJastrow(Product):
    """Gaussian x Slater determinants x optional Pade-Jastrow: closed-shell 2-D quantum dots.

    Parameters
    ----------
    n_particles : int
        Electrons (2, 6, 12, 20, ...).
    alpha : float
        Gaussian width (optimised) and Hermite scale (fixed, see :class:`SlaterDeterminant`).
    jastrow : {"pade", None}
        Pade-Jastrow factor with cusps 1 (antiparallel) and 1/3 (parallel).
    beta : float
        Pade parameter.

    Examples
    --------
    >>> import torch
    >>> wf = SlaterJastrow(6, alpha=0.5, jastrow=None)
    >>> wf.log_psi(torch.randn(3, 6, 2, dtype=torch.float64)).shape
    torch.Size([3])
    """

    def __init__(
        self,
        n_particles: int,
        alpha: float = 0.5,
        *,
        jastrow: str | None = "pade",
        beta: float = 0.5,
    ) -> None:
        factors: list[WaveFunction] = [Gaussian(alpha), SlaterDeterminant(n_particles, alpha)]
        if jastrow == "pade":
            factors.append(PadeJastrow(beta))
        elif jastrow is not None:
            raise ValueError(f"jastrow must be 'pade' or None, got {jastrow!r}")
        super().__init__(factors)
