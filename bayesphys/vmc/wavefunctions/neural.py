"""Neural-network Jastrow factor: ``exp(sum_{i<j} u_theta(r_ij))`` with a small MLP ``u_theta``."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from bayesphys.core.validation import check_positive_int
from bayesphys.vmc.systems import pair_distances
from bayesphys.vmc.wavefunctions.base import Product, WaveFunction
from bayesphys.vmc.wavefunctions.gaussian import Gaussian, PadeJastrow

__all__ = ["NeuralJastrow", "NeuralPairFactor"]


class NeuralPairFactor(WaveFunction):
    """``sum_{i<j} u(r_ij)`` with ``u`` a tanh MLP of the pair distance (autograd derivatives).

    Depending on ``r_ij`` only keeps the factor symmetric under particle exchange and rotations.
    The last layer starts at zero, so the initial factor is exactly 1.

    Parameters
    ----------
    hidden : int
        Width of the two hidden layers.
    random_state : int
        Seed of the weight initialisation.
    """

    def __init__(self, hidden: int = 16, *, random_state: int = 0) -> None:
        super().__init__()
        hidden = check_positive_int(hidden, "hidden")
        random_state = check_positive_int(random_state, "random_state", minimum=0)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(random_state)
            self.net = nn.Sequential(
                nn.Linear(1, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(),
                nn.Linear(hidden, 1),
            ).double()  # fmt: skip
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)

    def log_psi(self, R: Tensor) -> Tensor:
        """``sum_{i<j} u(r_ij)``."""
        if R.shape[1] < 2:
            return torch.zeros(R.shape[0], dtype=R.dtype, device=R.device)
        r, _ = pair_distances(R)
        return self.net(r.unsqueeze(-1)).squeeze(-1).sum(-1)


class NeuralJastrow(Product):
    """Gaussian x optional Pade-Jastrow (cusp) x neural pair factor.

    The Pade factor carries the exact electron-electron cusp; the network learns the remaining
    smooth correlation. Local energies use autograd for the network factor.

    Parameters
    ----------
    alpha : float
        Gaussian width (``omega / 2`` exact without interaction).
    hidden : int
        Width of the MLP.
    jastrow : {None, "pade"}
        Include the Pade cusp factor.
    beta : float
        Pade parameter.
    random_state : int
        Seed of the network initialisation.
    """

    def __init__(
        self,
        alpha: float = 0.5,
        hidden: int = 16,
        *,
        jastrow: str | None = "pade",
        beta: float = 0.5,
        random_state: int = 0,
    ) -> None:
        factors: list[WaveFunction] = [Gaussian(alpha)]
        if jastrow == "pade":
            factors.append(PadeJastrow(beta))
        elif jastrow is not None:
            raise ValueError(f"jastrow must be None or 'pade', got {jastrow!r}")
        factors.append(NeuralPairFactor(hidden, random_state=random_state))
        super().__init__(factors)
