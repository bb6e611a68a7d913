"""Trial wave functions as torch modules: ``log|psi(R)|`` with optional analytic derivatives.

A wave function is a product of factors, so ``ln|psi| = sum_f ln|f|``. Every factor returns its
value; factors with a closed form also return the gradient and Laplacian of ``ln|f|`` with
respect to all coordinates, which the analytic local energy combines as

    -1/2 lap psi / psi = -1/2 (sum_f lap ln f + |sum_f grad ln f|^2).

Factors without a closed form fall back to autograd (:func:`autograd_grad_lap`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

__all__ = [
    "Product",
    "WaveFunction",
    "autograd_grad_lap",
    "check_wavefunction",
    "domain_violations",
    "parameter_vector",
]

LogPsiFn = Callable[[Tensor], Tensor]


def autograd_grad_lap(log_psi: LogPsiFn, R: Tensor) -> tuple[Tensor, Tensor]:
    """Gradient ``(walkers, N, d)`` and Laplacian ``(walkers,)`` of ``log_psi`` by autograd.

    The Laplacian needs one extra backward pass per coordinate (``N * d`` in all); each pass
    serves all walkers at once because walkers do not interact.
    """
    W, N, d = R.shape
    with torch.enable_grad():
        x = R.detach().reshape(W, N * d).requires_grad_(True)
        value = log_psi(x.view(W, N, d))
        if not value.requires_grad:  # independent of R (e.g. the 1x1 determinant of N = 2)
            return torch.zeros_like(R), torch.zeros(W, dtype=R.dtype, device=R.device)
        (grad,) = torch.autograd.grad(value.sum(), x, create_graph=True, allow_unused=True)
        if grad is None:
            return torch.zeros_like(R), torch.zeros(W, dtype=R.dtype, device=R.device)
        lap = torch.zeros(W, dtype=R.dtype, device=R.device)
        for k in range(N * d):
            if not grad.requires_grad:  # log_psi linear in x: no second derivative
                break
            (second,) = torch.autograd.grad(
                grad[:, k].sum(), x, retain_graph=True, allow_unused=True
            )
            if second is not None:
                lap = lap + second[:, k]
    return grad.detach().view(W, N, d), lap.detach()


class WaveFunction(nn.Module):
    """Base class: a trial wave function (or factor of one) with trainable parameters.

    Subclasses implement :meth:`log_psi`; those with a closed-form gradient and Laplacian
    override :meth:`grad_lap` and set ``analytic = True``. Positions ``R`` have shape
    ``(walkers, n_particles, dim)``; all parameters are float64.
    """

    analytic: bool = False
    #: Names of this module's own parameters and buffers that must stay > 0 (e.g. a Gaussian
    #: width): :func:`check_wavefunction` and ``vmc.optimize`` keep them in that domain.
    positive: tuple[str, ...] = ()

    def log_psi(self, R: Tensor) -> Tensor:
        """``ln|psi(R)|`` per walker, shape ``(walkers,)``; ``-inf`` where ``psi = 0``."""
        raise NotImplementedError

    def forward(self, R: Tensor) -> Tensor:
        """Alias of :meth:`log_psi` (so the module is callable)."""
        return self.log_psi(R)

    def grad_lap(self, R: Tensor) -> tuple[Tensor, Tensor]:
        """Gradient ``(walkers, N, d)`` and Laplacian ``(walkers,)`` of ``ln|psi|``.

        The default uses autograd; factors with ``analytic = True`` override it.
        """
        return autograd_grad_lap(self.log_psi, R)

    def parameter_dict(self) -> dict[str, float]:
        """Every trainable scalar parameter by name (``name[i]`` for tensors), for histories."""
        out = {}
        for name, p in self.named_parameters():
            if not p.requires_grad:
                continue
            flat = p.detach().reshape(-1)
            if flat.numel() == 1:
                out[name] = float(flat[0])
            else:
                out.update({f"{name}[{i}]": float(v) for i, v in enumerate(flat)})
        return out


class Product(WaveFunction):
    """Product of factors: ``psi = prod_f f``.

    Parameters
    ----------
    factors : sequence of WaveFunction
        The factors; the product is analytic when every factor is.
    """

    def __init__(self, factors: Sequence[WaveFunction]) -> None:
        super().__init__()
        factors = list(factors)
        if not factors or not all(isinstance(f, WaveFunction) for f in factors):
            raise TypeError("factors must be a non-empty sequence of WaveFunction modules")
        self.factors = nn.ModuleList(factors)

    @property
    def analytic(self) -> bool:  # type: ignore[override]
        """True when every factor has a closed-form gradient and Laplacian."""
        return all(f.analytic for f in self.factors)

    def log_psi(self, R: Tensor) -> Tensor:
        """Sum of the factors' ``ln|f|``."""
        total = self.factors[0].log_psi(R)
        for f in self.factors[1:]:
            total = total + f.log_psi(R)
        return total

    def grad_lap(self, R: Tensor) -> tuple[Tensor, Tensor]:
        """Sum of the factors' gradients and Laplacians (autograd where a factor has none)."""
        grad, lap = self.factors[0].grad_lap(R)
        for f in self.factors[1:]:
            g, lp = f.grad_lap(R)
            grad, lap = grad + g, lap + lp
        return grad, lap


def domain_violations(wf: nn.Module) -> list[tuple[str, str]]:
    """``(name, problem)`` for every parameter or buffer of ``wf`` outside its domain.

    Every value must be finite; those a factor lists in ``positive`` must also be > 0. Names are
    the full dotted names of ``wf.named_parameters()`` (e.g. ``factors.0.alpha``).
    """
    out = []
    for prefix, module in wf.named_modules():
        positive = getattr(module, "positive", ())
        tensors = [*module.named_parameters(recurse=False), *module.named_buffers(recurse=False)]
        for name, t in tensors:
            if not torch.is_floating_point(t):
                continue
            full = f"{prefix}.{name}" if prefix else name
            values = t.detach()
            if not bool(torch.isfinite(values).all()):
                out.append((full, f"must be finite, got {_show(values)}"))
            elif name in positive and not bool((values > 0).all()):
                out.append((full, f"must be > 0, got {_show(values)}"))
    return out


def check_wavefunction(wf: object, name: str = "wf") -> None:
    """Raise ``TypeError`` unless ``wf`` is a WaveFunction, ``ValueError`` naming the first
    parameter outside its domain (e.g. a Gaussian width ``alpha <= 0``, where ``|psi|^2`` is
    not normalisable and every energy would be meaningless)."""
    if not isinstance(wf, WaveFunction):
        raise TypeError(f"{name} must be a bayesphys.vmc WaveFunction, got {type(wf).__name__}")
    bad = domain_violations(wf)
    if bad:
        param, problem = bad[0]
        raise ValueError(
            f"{name}: parameter {param} {problem}; set it inside its domain (e.g. "
            f"with torch.no_grad(): {name}.{param}.fill_(0.5)) or build a new wave function"
        )


def _show(values: Tensor) -> str:
    flat = values.reshape(-1)
    return f"{float(flat[0]):g}" if flat.numel() == 1 else str(flat.tolist())


def parameter_vector(wf: nn.Module) -> Tensor:
    """All trainable parameters of ``wf`` flattened into one detached vector."""
    params = [p.detach().reshape(-1) for p in wf.parameters() if p.requires_grad]
    if not params:
        return torch.zeros(0, dtype=torch.float64)
    return torch.cat(params)


def as_parameter(value: float | Tensor, name: str, *, positive: bool = False) -> nn.Parameter:
    """A float64 parameter from a number or tensor, checked finite (and > 0 if ``positive``)."""
    try:
        t = torch.as_tensor(value, dtype=torch.float64).clone()
    except (TypeError, ValueError, RuntimeError) as err:
        raise TypeError(f"{name} must be a number or tensor, got {type(value).__name__}") from err
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name} must be finite, got {value}")
    if positive and not bool((t > 0).all()):
        raise ValueError(f"{name} must be > 0, got {value}")
    return nn.Parameter(t)
