"""Covariance-function specs, combinable with ``+`` and ``*``, evaluated by GPyTorch kernels.

A spec (``RBF()``, ``Matern(2.5)``, ...) is an immutable description; :func:`compile_kernel`
turns it, for a given number of features, into a :class:`CompiledKernel` that lists the
hyperparameters and evaluates covariance matrices for a *batch* of hyperparameter values (one
per chain or draw) with GPyTorch's kernel code. Base kernels are correlation functions (unit
variance); every product term of the expanded sum gets its own ``outputscale`` (signal
variance), so that ``RBF() * Periodic()`` has one and ``RBF() + Linear()`` has two.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from typing import ClassVar

import gpytorch
import torch
from torch.func import functional_call

__all__ = [
    "RBF",
    "CompiledKernel",
    "Kernel",
    "Linear",
    "Matern",
    "Periodic",
    "RationalQuadratic",
    "compile_kernel",
    "kernel_from_string",
]


class Kernel:
    """Base of kernel specs: ``k1 + k2`` and ``k1 * k2`` build composite kernels."""

    def __add__(self, other: Kernel) -> Kernel:
        return Sum(self, _check_kernel(other))

    def __mul__(self, other: Kernel) -> Kernel:
        return Product(self, _check_kernel(other))

    def terms(self) -> list[list[BaseKernel]]:
        """The kernel expanded as a sum of products of base kernels."""
        raise NotImplementedError


def _check_kernel(other) -> Kernel:
    if not isinstance(other, Kernel):
        raise TypeError(f"kernels combine only with kernels, got {type(other).__name__}")
    return other


@dataclasses.dataclass(frozen=True)
class BaseKernel(Kernel):
    """A single GPyTorch-backed correlation function."""

    label: ClassVar[str] = "base"
    # Hyperparameters as (name, per-feature under ARD?) pairs.
    hyper: ClassVar[tuple[tuple[str, bool], ...]] = ()

    def terms(self) -> list[list[BaseKernel]]:
        return [[self]]

    def make(self, n_features: int, ard: bool) -> gpytorch.kernels.Kernel:
        """The GPyTorch kernel whose raw parameters are the logs of the hyperparameters."""
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in dataclasses.fields(self))
        return f"{type(self).__name__}({args})"


def _log_positive() -> gpytorch.constraints.Positive:
    # exp/log instead of GPyTorch's softplus: the raw parameter is then exactly the
    # unconstrained log-hyperparameter that the optimiser and HMC work with.
    return gpytorch.constraints.Positive(transform=torch.exp, inv_transform=torch.log)


def _ard_dims(n_features: int, ard: bool) -> int | None:
    return n_features if ard and n_features > 1 else None


@dataclasses.dataclass(frozen=True, repr=False)
class RBF(BaseKernel):
    """Squared exponential ``exp(-|x - x'|^2 / (2 l^2))`` (per-feature ``l`` under ARD)."""

    label = "rbf"
    hyper = (("lengthscale", True),)

    def make(self, n_features, ard):
        return gpytorch.kernels.RBFKernel(
            ard_num_dims=_ard_dims(n_features, ard), lengthscale_constraint=_log_positive()
        )


@dataclasses.dataclass(frozen=True, repr=False)
class Matern(BaseKernel):
    """Matérn kernel with smoothness ``nu`` in {0.5, 1.5, 2.5}."""

    nu: float = 2.5
    hyper = (("lengthscale", True),)

    def __post_init__(self):
        if self.nu not in (0.5, 1.5, 2.5):
            raise ValueError(f"Matern: nu must be 0.5, 1.5 or 2.5, got {self.nu!r}")

    @property
    def label(self) -> str:
        return f"matern{int(2 * self.nu)}2"

    def make(self, n_features, ard):
        return gpytorch.kernels.MaternKernel(
            nu=self.nu,
            ard_num_dims=_ard_dims(n_features, ard),
            lengthscale_constraint=_log_positive(),
        )


@dataclasses.dataclass(frozen=True, repr=False)
class RationalQuadratic(BaseKernel):
    """``(1 + |x - x'|^2 / (2 alpha l^2))^(-alpha)``: a scale mixture of RBFs."""

    label = "rq"
    hyper = (("lengthscale", True), ("alpha", False))

    def make(self, n_features, ard):
        return gpytorch.kernels.RQKernel(
            ard_num_dims=_ard_dims(n_features, ard),
            lengthscale_constraint=_log_positive(),
            alpha_constraint=_log_positive(),
        )


@dataclasses.dataclass(frozen=True, repr=False)
class Periodic(BaseKernel):
    """GPyTorch's periodic kernel ``exp(-2 sum_j sin^2(pi |x_j - x'_j| / p_j) / l_j)``.

    Note the GPyTorch convention: ``l`` divides ``sin^2`` (scikit-learn's ``ExpSineSquared``
    divides by ``l^2``).
    """

    label = "periodic"
    hyper = (("lengthscale", True), ("period", True))

    def make(self, n_features, ard):
        return gpytorch.kernels.PeriodicKernel(
            # GPyTorch's periodic kernel needs an int here; 1 means one shared value.
            ard_num_dims=_ard_dims(n_features, ard) or 1,
            lengthscale_constraint=_log_positive(),
            period_length_constraint=_log_positive(),
        )


@dataclasses.dataclass(frozen=True, repr=False)
class Linear(BaseKernel):
    """Dot product ``x . x'`` (its variance is the term's ``outputscale``)."""

    label = "linear"

    def make(self, n_features, ard):
        return gpytorch.kernels.LinearKernel(variance_constraint=_log_positive())


@dataclasses.dataclass(frozen=True, repr=False)
class Sum(Kernel):
    left: Kernel
    right: Kernel

    def terms(self):
        return self.left.terms() + self.right.terms()

    def __repr__(self) -> str:
        return f"{self.left!r} + {self.right!r}"


@dataclasses.dataclass(frozen=True, repr=False)
class Product(Kernel):
    left: Kernel
    right: Kernel

    def terms(self):
        return [a + b for a in self.left.terms() for b in self.right.terms()]

    def __repr__(self) -> str:
        return f"({self.left!r}) * ({self.right!r})"


KERNEL_NAMES = {
    "rbf": RBF,
    "matern12": lambda: Matern(0.5),
    "matern32": lambda: Matern(1.5),
    "matern52": lambda: Matern(2.5),
    "rq": RationalQuadratic,
    "periodic": Periodic,
    "linear": Linear,
}


def kernel_from_string(kernel: str | Kernel) -> Kernel:
    """Resolve a kernel name (``"rbf"``, ``"matern32"``, ...) or pass a spec through."""
    if isinstance(kernel, Kernel):
        return kernel
    if isinstance(kernel, str) and kernel in KERNEL_NAMES:
        return KERNEL_NAMES[kernel]()
    error = ValueError if isinstance(kernel, str) else TypeError
    raise error(
        f"kernel must be one of {sorted(KERNEL_NAMES)} or a bayesphys.gp.kernels spec "
        f"(e.g. RBF() + Periodic()), got {kernel!r}"
    )


class _Evaluator(torch.nn.Module):
    """Holds the GPyTorch kernels so that ``functional_call`` can swap in batched values."""

    def __init__(self, modules: list[gpytorch.kernels.Kernel]):
        super().__init__()
        self.parts = torch.nn.ModuleList(modules)

    def forward(self, i: int, x1, x2, diag: bool):
        out = self.parts[i].forward(x1, x2, diag=diag)
        return out.to_dense() if hasattr(out, "to_dense") else out


class CompiledKernel:
    """A kernel spec bound to a number of features.

    Attributes
    ----------
    params : dict of str to (int, str)
        Hyperparameter name -> (size, kind) with kind ``"lengthscale"``, ``"period"``,
        ``"alpha"`` or ``"outputscale"``, in evaluation order.
    """

    def __init__(self, spec: Kernel, n_features: int, ard: bool):
        self.spec, self.n_features, self.ard = spec, n_features, ard
        terms = spec.terms()
        counts = Counter(base.label for term in terms for base in term)
        n_bases = sum(len(term) for term in terms)
        seen: Counter = Counter()
        self.params: dict[str, tuple[int, str]] = {}
        self._terms: list[tuple[str, list[tuple[int, dict[str, str]]]]] = []
        # Linear factors per term: their variance grows like |x|^2, which sets the default scale.
        self.linear_factors: dict[str, int] = {}
        # Lengthscales without the units of x: the periodic kernel's divides sin^2.
        self.unitless: set[str] = set()
        modules = []
        for t, term in enumerate(terms):
            scale = "outputscale" if len(terms) == 1 else f"outputscale_{t}"
            self.params[scale] = (1, "outputscale")
            factors = []
            for base in term:
                seen[base.label] += 1
                prefix = "" if n_bases == 1 else base.label
                if counts[base.label] > 1:
                    prefix += str(seen[base.label])
                raw = {}
                for name, per_feature in base.hyper:
                    full = f"{prefix}_{name}" if prefix else name
                    size = n_features if per_feature and ard else 1
                    self.params[full] = (size, name)
                    raw[name] = full
                    if isinstance(base, Periodic) and name == "lengthscale":
                        self.unitless.add(full)
                factors.append((len(modules), raw))
                modules.append(base.make(n_features, ard).double())
            self._terms.append((scale, factors))
            self.linear_factors[scale] = sum(isinstance(b, Linear) for b in term)
        self._evaluator = _Evaluator(modules)

    def __call__(
        self, values: dict, x1: torch.Tensor, x2: torch.Tensor | None = None, *, diag: bool = False
    ) -> torch.Tensor:
        """Covariance for a batch of hyperparameters.

        Parameters
        ----------
        values : dict of str to Tensor
            Each hyperparameter with shape ``(batch, size)`` (in the standardised units of the
            targets: ``outputscale`` divided by the target scale squared).
        x1, x2 : Tensor (n, p), (m, p)
        diag : bool
            Only the diagonal ``k(x1_i, x1_i)``, shape ``(batch, n)``.

        Returns
        -------
        Tensor of shape ``(batch, n, m)`` (or ``(batch, n)`` with ``diag``).
        """
        x2 = x1 if x2 is None else x2
        total = None
        for scale, factors in self._terms:
            term = None
            for index, raw in factors:
                part = self._evaluate(index, raw, values, x1, x2, diag)
                term = part if term is None else term * part
            os = values[scale].reshape(-1, *([1] * (term.dim() - 1)))
            term = os * term
            total = term if total is None else total + term
        return total

    def _evaluate(self, index, raw, values, x1, x2, diag):
        module = self._evaluator.parts[index]
        batch = next(iter(values.values())).shape[0]
        overrides = {}
        for name, full in raw.items():
            log_value = torch.log(values[full])
            key = {"period": "raw_period_length"}.get(name, f"raw_{name}")
            if name == "alpha":
                overrides[f"parts.{index}.{key}"] = log_value.reshape(batch, 1)
            else:
                overrides[f"parts.{index}.{key}"] = log_value.reshape(batch, 1, -1)
        if isinstance(module, gpytorch.kernels.LinearKernel):
            zeros = torch.zeros(batch, 1, 1, dtype=x1.dtype)
            overrides[f"parts.{index}.raw_variance"] = zeros
            out = functional_call(self._evaluator, overrides, (index, x1, x2, diag))
            # A parameter-free kernel does not broadcast over the batch by itself.
            return out.expand(batch, *out.shape[-(1 if diag else 2) :])
        if isinstance(module, gpytorch.kernels.PeriodicKernel) and not diag:
            # GPyTorch's periodic kernel takes the distances between different inputs from
            # torch.cdist, which forms |a|^2 + |b|^2 - 2 a.b without centring: on timestamps
            # (Julian dates ~2.4e6, Unix times ~1.7e9) the cross-covariances of predictions and
            # of sparse fits were wrong by O(1). The kernel is stationary, so one shift of both
            # inputs is exact; it is a constant, so gradients are unchanged.
            centre = x1.detach().mean(dim=0)
            x1, x2 = x1 - centre, x2 - centre
        return functional_call(self._evaluator, overrides, (index, x1, x2, diag))


def compile_kernel(spec: str | Kernel, n_features: int, ard: bool) -> CompiledKernel:
    """Bind a kernel spec (or name) to ``n_features`` input columns."""
    return CompiledKernel(kernel_from_string(spec), n_features, ard)
