"""Target densities and helpers shared by the sampler tests (test_samplers, test_nuts)."""

from __future__ import annotations

import torch

DT = torch.float64
K_SIGMA = 4.5  # tolerance in Monte Carlo standard errors


class CorrelatedGaussian:
    """``log_prob`` of a 2-D Gaussian with means ``mu``, scales ``scales`` and correlation ``rho``.

    Diagonal mass adaptation can remove the scales but not the correlation.
    """

    def __init__(self, mu: tuple[float, float], scales: tuple[float, float], rho: float):
        self.mu = torch.tensor(mu, dtype=DT)
        self.scales = torch.tensor(scales, dtype=DT)
        self.rho = rho
        corr = torch.tensor([[1.0, rho], [rho, 1.0]], dtype=DT)
        self.cov = corr * self.scales[:, None] * self.scales[None, :]
        self.prec = torch.linalg.inv(self.cov)

    def __call__(self, theta: torch.Tensor) -> torch.Tensor:
        d = theta - self.mu
        return -0.5 * ((d @ self.prec) * d).sum(-1)


def std_normal_log_prob(theta: torch.Tensor) -> torch.Tensor:
    return -0.5 * (theta**2).sum(-1)


def randn(*shape: int, seed: int = 0) -> torch.Tensor:
    """Seeded float64 standard normals (initial positions)."""
    return torch.randn(*shape, dtype=DT, generator=torch.Generator().manual_seed(seed))
