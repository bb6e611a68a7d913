"""Gaussian-binary restricted Boltzmann machine (RBM) wave functions (Carleo & Troyer 2017).

The visible units are the ``M = N d`` coordinates ``X``; with the binary hidden units summed
out the marginal is

    F(X) = exp(-|X - a|^2 / (2 sigma^2)) prod_j (1 + exp(b_j + X . W_j / sigma^2)),

and the trial function is ``psi = F^p`` with ``p = 1/2`` (``psi = sqrt(F)``, as in Nordhagen et
al. 2023) or ``p = 1``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from bayesphys.core.validation import check_positive_int
from bayesphys.vmc.wavefunctions.base import Product, WaveFunction
from bayesphys.vmc.wavefunctions.gaussian import PadeJastrow

__all__ = ["RBM", "RBMFactor"]


class RBMFactor(WaveFunction):
    """``F(X)^power`` of a Gaussian-binary RBM, with closed-form gradient and Laplacian.

    Parameters
    ----------
    n_particles, dim : int
        Size of the visible layer ``M = n_particles * dim``.
    n_hidden : int
        Number of hidden units.
    sigma : float, optional
        Width of the visible units (fixed). Default ``sqrt(power)``, for which ``F^power`` with
        zero weights is the exact ``omega = 1`` oscillator Gaussian ``exp(-r^2 / 2)``.
    power : float
        ``psi = F^power``: 0.5 or 1.
    init_scale : float
        Standard deviation of the random initial weights and biases.
    random_state : int
        Seed of the initialisation.
    """

    analytic = True

    def __init__(
        self,
        n_particles: int,
        dim: int,
        n_hidden: int,
        *,
        sigma: float | None = None,
        power: float = 0.5,
        init_scale: float = 0.01,
        random_state: int = 0,
    ) -> None:
        super().__init__()
        self.n_particles = check_positive_int(n_particles, "n_particles")
        self.dim = check_positive_int(dim, "dim")
        n_hidden = check_positive_int(n_hidden, "n_hidden")
        if power not in (0.5, 1.0):
            raise ValueError(f"power must be 0.5 (psi = sqrt(F)) or 1.0 (psi = F), got {power}")
        sigma = power**0.5 if sigma is None else _finite(sigma, "sigma")
        if not sigma > 0:  # sigma = inf made |psi|^2 flat: not normalisable
            raise ValueError(f"sigma must be finite and > 0, got {sigma}")
        init_scale = _finite(init_scale, "init_scale")
        if init_scale < 0:
            raise ValueError(f"init_scale must be finite and >= 0, got {init_scale}")
        self.power, self.sigma2 = float(power), float(sigma) ** 2
        random_state = check_positive_int(random_state, "random_state", minimum=0)
        g = torch.Generator().manual_seed(random_state)
        M = self.n_particles * self.dim

        def init(*shape: int) -> nn.Parameter:
            return nn.Parameter(init_scale * torch.randn(shape, generator=g, dtype=torch.float64))

        self.a, self.b, self.W = init(M), init(n_hidden), init(M, n_hidden)

    def _flat(self, R: Tensor) -> Tensor:
        if R.shape[1:] != (self.n_particles, self.dim):
            raise ValueError(
                f"R must have shape (walkers, {self.n_particles}, {self.dim}) for this RBM, "
                f"got {tuple(R.shape)}"
            )
        return R.reshape(R.shape[0], -1)

    def log_psi(self, R: Tensor) -> Tensor:
        """``power * ln F``."""
        X = self._flat(R)
        v = self.b + X @ self.W / self.sigma2
        ln_f = -((X - self.a) ** 2).sum(-1) / (2 * self.sigma2) + nn.functional.softplus(v).sum(-1)
        return self.power * ln_f

    def grad_lap(self, R: Tensor) -> tuple[Tensor, Tensor]:
        """``d ln F / dX_k = -(X_k - a_k)/s^2 + sum_j W_kj sig(v_j)/s^2`` and its divergence."""
        with torch.no_grad():
            X = self._flat(R)
            v = self.b + X @ self.W / self.sigma2
            s = torch.sigmoid(v)
            grad = -(X - self.a) / self.sigma2 + s @ self.W.T / self.sigma2
            curvature = (s * (1 - s)) @ (self.W**2).sum(0) / self.sigma2**2
            lap = -X.shape[1] / self.sigma2 + curvature
        return self.power * grad.view_as(R), self.power * lap


class RBM(Product):
    """Gaussian-binary RBM trial function, optionally times a Pade-Jastrow factor.

    Parameters
    ----------
    n_particles, dim : int
        System size.
    n_hidden : int
        Hidden units.
    jastrow : {None, "pade"}
        Add ``PadeJastrow(beta)`` (electron cusps) to the RBM.
    beta : float
        Initial Pade parameter.
    sigma, power, init_scale, random_state
        See :class:`RBMFactor`.

    Examples
    --------
    >>> import torch
    >>> wf = RBM(2, 2, n_hidden=2, jastrow="pade")
    >>> wf.log_psi(torch.zeros(4, 2, 2, dtype=torch.float64)).shape
    torch.Size([4])
    """

    def __init__(
        self,
        n_particles: int,
        dim: int,
        n_hidden: int = 2,
        *,
        jastrow: str | None = None,
        beta: float = 0.5,
        sigma: float | None = None,
        power: float = 0.5,
        init_scale: float = 0.01,
        random_state: int = 0,
    ) -> None:
        factors: list[WaveFunction] = [
            RBMFactor(
                n_particles,
                dim,
                n_hidden,
                sigma=sigma,
                power=power,
                init_scale=init_scale,
                random_state=random_state,
            )
        ]
        if jastrow == "pade":
            factors.append(PadeJastrow(beta))
        elif jastrow is not None:
            raise ValueError(f"jastrow must be None or 'pade' for an RBM, got {jastrow!r}")
        super().__init__(factors)


def _finite(value: float, name: str) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name} must be a number, got {value!r}") from err
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return value
