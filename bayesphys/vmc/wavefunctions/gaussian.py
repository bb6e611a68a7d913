"""Gaussian one-body factor and pair Jastrow factors (Pade cusp, hard-sphere), with closed forms.

Convention: the Gaussian is ``exp(-alpha (x^2 + y^2 + beta_z z^2))`` per particle, so the exact
non-interacting ground state has ``alpha = omega / 2`` (and ``beta_z = gamma`` in an elliptical
trap). A pair Jastrow factor is ``exp(sum_{i<j} u(r_ij))``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from bayesphys.core.validation import check_positive_int
from bayesphys.vmc.systems import pair_distances
from bayesphys.vmc.wavefunctions.base import Product, WaveFunction, as_parameter

__all__ = ["Gaussian", "GaussianJastrow", "HardSphereJastrow", "PadeJastrow", "cusp_matrix"]


class Gaussian(WaveFunction):
    """``exp(-alpha sum_i (x_i^2 + y_i^2 + beta_z z_i^2))``; ``beta_z`` acts on z in 3-D only.

    Parameters
    ----------
    alpha : float
        Width parameter (> 0); ``omega / 2`` is exact for the isotropic trap.
    beta_z : float
        z-axis factor (3-D); ``gamma`` is exact in an elliptical trap.
    train_beta_z : bool
        Optimise ``beta_z`` too (default False: spherical traps need none).
    """

    analytic = True
    positive = ("alpha", "beta_z")

    def __init__(self, alpha: float = 0.5, *, beta_z: float = 1.0, train_beta_z: bool = False):
        super().__init__()
        self.alpha = as_parameter(alpha, "alpha", positive=True)
        self.beta_z = as_parameter(beta_z, "beta_z", positive=True)
        self.beta_z.requires_grad_(bool(train_beta_z))

    def _weights(self, R: Tensor) -> Tensor:
        d = R.shape[-1]
        if d < 3:
            return torch.ones(d, dtype=R.dtype, device=R.device)
        one = torch.ones(d - 1, dtype=R.dtype, device=R.device)
        return torch.cat([one, self.beta_z.reshape(1).to(R)])

    def log_psi(self, R: Tensor) -> Tensor:
        """``-alpha sum_i r_i^T B r_i``."""
        return -self.alpha * (R * R * self._weights(R)).sum((-1, -2))

    def grad_lap(self, R: Tensor) -> tuple[Tensor, Tensor]:
        """``grad = -2 alpha B r_i``, ``lap = -2 alpha N tr(B)``."""
        w = self._weights(R).detach()
        alpha = self.alpha.detach()
        grad = -2.0 * alpha * w * R
        lap = (-2.0 * alpha * R.shape[1] * w.sum()).expand(R.shape[0])
        return grad, lap.clone()


class _PairJastrow(WaveFunction):
    """``sum_{i<j} u(r_ij)`` with analytic ``u'`` and ``u''`` supplied by subclasses."""

    analytic = True

    def u(self, r: Tensor, n_particles: int, dim: int) -> tuple[Tensor, Tensor, Tensor]:
        """``u``, ``u'`` and ``u''`` at pair distances ``r`` ``(walkers, pairs)``."""
        raise NotImplementedError

    def log_psi(self, R: Tensor) -> Tensor:
        """``sum_{i<j} u(r_ij)``."""
        if R.shape[1] < 2:
            return torch.zeros(R.shape[0], dtype=R.dtype, device=R.device)
        r, _ = pair_distances(R)
        return self.u(r, R.shape[1], R.shape[2])[0].sum(-1)

    def grad_lap(self, R: Tensor) -> tuple[Tensor, Tensor]:
        """Gradient ``sum_j u'(r_kj) r_kj_hat``; Laplacian ``2 sum_pairs u'' + (d-1) u' / r``."""
        W, N, d = R.shape
        if N < 2:
            return torch.zeros_like(R), torch.zeros(W, dtype=R.dtype, device=R.device)
        with torch.no_grad():
            index = torch.triu_indices(N, N, offset=1, device=R.device)
            diff = R[:, index[0]] - R[:, index[1]]
            r = torch.linalg.vector_norm(diff, dim=-1)
            _, du, d2u = self.u(r, N, d)
            pull = (du / r).unsqueeze(-1) * diff
            grad = torch.zeros_like(R)
            grad.index_add_(1, index[0], pull)
            grad.index_add_(1, index[1], -pull)
            lap = 2.0 * (d2u + (d - 1) * du / r).sum(-1)
        return grad, lap


def cusp_matrix(n_particles: int, dim: int, n_up: int | None = None) -> Tensor:
    """Kato cusp ``a_ij`` of every pair ``i < j``: ``1/(d-1)`` antiparallel, ``1/(d+1)`` parallel.

    Particles ``0 .. n_up-1`` are spin up, the rest spin down (default ``n_up = N // 2``, closed
    shells). In 2-D this gives 1 and 1/3; in 3-D 1/2 and 1/4.
    """
    if dim < 2:
        raise ValueError(f"the Pade-Jastrow cusp needs dim >= 2, got dim={dim}")
    n_up = n_particles // 2 if n_up is None else int(n_up)
    if not 0 <= n_up <= n_particles:
        raise ValueError(f"n_up must be in [0, n_particles={n_particles}], got {n_up}")
    spin = torch.arange(n_particles) >= n_up
    index = torch.triu_indices(n_particles, n_particles, offset=1)
    parallel = spin[index[0]] == spin[index[1]]
    return torch.where(parallel, 1.0 / (dim + 1), 1.0 / (dim - 1)).to(torch.float64)


class PadeJastrow(_PairJastrow):
    """``exp(sum_{i<j} a_ij r_ij / (1 + beta r_ij))`` with the electron-electron cusp ``a_ij``.

    Parameters
    ----------
    beta : float
        Trainable range parameter (> 0).
    n_up : int, optional
        Number of spin-up particles (the first ``n_up``); default ``N // 2``.
    """

    positive = ("beta",)

    def __init__(self, beta: float = 0.5, *, n_up: int | None = None) -> None:
        super().__init__()
        self.beta = as_parameter(beta, "beta", positive=True)
        if n_up is not None:
            # Checked here: 1.5 was truncated to 1 and -1 failed only at the first evaluation.
            n_up = check_positive_int(n_up, "n_up", minimum=0)
        self.n_up = n_up
        self._cusp: dict[tuple[int, int, int | None], Tensor] = {}

    def u(self, r: Tensor, n_particles: int, dim: int) -> tuple[Tensor, Tensor, Tensor]:
        """``a r / (1 + beta r)`` and its first two derivatives."""
        key = (n_particles, dim, self.n_up)  # n_up too: a changed n_up kept the old cusps
        if key not in self._cusp:  # cached: the spin pattern is fixed for a given N, d, n_up
            self._cusp[key] = cusp_matrix(n_particles, dim, n_up=self.n_up)
        a = self._cusp[key].to(r)
        beta = self.beta
        denom = 1.0 + beta * r
        return a * r / denom, a / denom**2, -2.0 * a * beta / denom**3


class HardSphereJastrow(_PairJastrow):
    """``prod_{i<j} (1 - a / r_ij)`` for ``r_ij > a``, zero otherwise (hard-sphere bosons).

    Parameters
    ----------
    a : float
        Hard-sphere diameter (> 0); a fixed physical constant, not trained.
    """

    positive = ("a",)

    def __init__(self, a: float) -> None:
        super().__init__()
        self.register_buffer("a", as_parameter(a, "a", positive=True).detach())

    def u(self, r: Tensor, n_particles: int, dim: int) -> tuple[Tensor, Tensor, Tensor]:
        """``ln(1 - a/r)`` (``-inf`` inside the core) and its derivatives."""
        a = self.a.to(r)
        inside = r <= a
        gap = torch.where(inside, torch.ones_like(r), r - a)  # keeps derivatives NaN-free
        u = torch.where(inside, -torch.inf, torch.log(gap / r))
        du = a / (r * gap)
        d2u = -a * (2.0 * r - a) / (r * gap) ** 2
        return u, du, d2u


class GaussianJastrow(Product):
    """Gaussian times an optional pair Jastrow factor: the workhorse trial function.

    Parameters
    ----------
    alpha : float
        Gaussian width, ``psi ~ exp(-alpha r^2)``; ``omega / 2`` is exact without interaction.
    jastrow : {None, "pade", "hard_sphere"}
        Pair factor: Pade-Jastrow with electron cusps, or the hard-sphere ``1 - a / r``.
    beta : float
        Pade range parameter (``jastrow="pade"``).
    beta_z : float
        z-axis factor of the Gaussian (3-D elliptical traps; exact: ``beta_z = gamma``).
    a : float
        Hard-sphere diameter (``jastrow="hard_sphere"``).
    n_up : int, optional
        Spin-up count for the Pade cusps (default ``N // 2``).
    train_beta_z : bool
        Optimise ``beta_z`` as well.

    Examples
    --------
    >>> import torch
    >>> wf = GaussianJastrow(alpha=0.5, jastrow="pade", beta=0.4)
    >>> R = torch.zeros(3, 2, 2, dtype=torch.float64)
    >>> wf.log_psi(R).shape
    torch.Size([3])
    """

    def __init__(
        self,
        alpha: float = 0.5,
        jastrow: str | None = None,
        *,
        beta: float = 0.5,
        beta_z: float = 1.0,
        a: float | None = None,
        n_up: int | None = None,
        train_beta_z: bool = False,
    ) -> None:
        factors: list[WaveFunction] = [Gaussian(alpha, beta_z=beta_z, train_beta_z=train_beta_z)]
        if jastrow == "pade":
            factors.append(PadeJastrow(beta, n_up=n_up))
        elif jastrow == "hard_sphere":
            if a is None:
                raise ValueError("jastrow='hard_sphere' needs the hard-sphere diameter a=...")
            factors.append(HardSphereJastrow(a))
        elif jastrow is not None:
            raise ValueError(f"jastrow must be None, 'pade' or 'hard_sphere', got {jastrow!r}")
        super().__init__(factors)
        self.jastrow = jastrow
