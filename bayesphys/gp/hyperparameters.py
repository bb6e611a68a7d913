"""The hyperparameter space of a GP: priors, defaults, packing and standardisation.

Hyperparameters live in the *original* units of X and y (user priors are written there and
``hyperparameters_`` is reported there). The unconstrained vector ``z`` that L-BFGS and HMC move
is ``prior.transform.inverse(value)`` (the log for positive parameters), one block per free
(non-``Fixed``) parameter; parameters on the real line (the mean function's, under an identity
transform) are also standardised there, ``(value - shift) / scale`` in the units of the
standardised targets, so that their coordinates have the size of the log-scaled ones whatever
the units of X and y, and a linear mean's intercept coordinate is the mean at the centre of the
training inputs. The GP itself is evaluated on standardised targets
``(y - shift) / scale``, so values are converted with :meth:`HyperSpace.standardise`.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from bayesphys.core.priors import Fixed, LogNormal, Normal, Prior, as_prior
from bayesphys.core.schema import FEATURE_DIM
from bayesphys.core.transforms import Exp, Identity, Transform

POSITIVE_KINDS = ("lengthscale", "period", "alpha", "outputscale", "noise")
# Box bounds of the MAP search, as factors around each positive parameter's reference value
# (scikit-learn's default bounds span the same ten decades).
BOUND_FACTOR = 1e5
DEFAULT_LOG_SD = 1.5


@dataclasses.dataclass
class Param:
    """One (possibly vector) hyperparameter."""

    name: str
    size: int
    kind: str
    prior: Prior | None  # None: flat (improper), only for optimisation
    ref: np.ndarray  # typical value in original units: initial point and bound centre
    # Units of a real-line parameter's unconstrained coordinate: value = loc + unit * z. In the
    # raw units a mean of y ~ 1e-8 (or a slope over x ~ 1e8) is ~1e-8 in z while the
    # log-scaled parameters are O(1): L-BFGS-B then stopped far from the optimum (tens of nats
    # of evidence lost) and SVGP's Adam steps were 1e6 times the parameter.
    loc: np.ndarray | float = 0.0
    unit: np.ndarray | float = 1.0
    # The linear mean's intercept: the centre of the training inputs, where its coordinate
    # measures the mean function (see HyperSpace).
    centre: np.ndarray | None = None

    @property
    def fixed(self) -> bool:
        return isinstance(self.prior, Fixed)

    @property
    def transform(self) -> Transform:
        if self.prior is not None:
            return self.prior.transform
        return Exp() if self.kind in POSITIVE_KINDS else Identity()

    @property
    def affine(self) -> bool:
        """Whether ``z`` is standardised (``loc``, ``unit``): identity-transformed parameters."""
        return isinstance(self.transform, Identity)

    def constrained(self, z_block):
        """The parameter's value (transform space before ``forward``) from its block of ``z``."""
        if not self.affine:
            return z_block
        return z_block * _like(self.unit, z_block) + _like(self.loc, z_block)

    def sample_prior(self, draws: int, rng: np.random.Generator) -> np.ndarray:
        """``draws`` prior draws ``(draws, size)``, independent across the ``size`` values.

        A scalar prior on a vector parameter (``priors={"lengthscale": LogNormal(0, 1)}``
        with ARD) is one prior per value, as in :meth:`HyperSpace.log_prior`; broadcasting a
        single draw gave every feature the same lengthscale.
        """
        batch = int(np.prod(self.prior.batch_shape, dtype=int))
        shape = (draws,) if batch == self.size else (draws, self.size)
        v = np.asarray(self.prior.sample(size=shape, rng=rng), dtype=np.float64)
        return v.reshape(draws, self.size)

    def unconstrained(self, value):
        """Inverse of :meth:`constrained` (on ``transform.inverse(value)``)."""
        if not self.affine:
            return value
        return (value - self.loc) / self.unit


def _like(a, t):
    return torch.as_tensor(np.asarray(a, dtype=np.float64)) if torch.is_tensor(t) else a


def build_params(kernel, mean: str, priors: dict, noise, scales: dict) -> list[Param]:
    """List the hyperparameters with their priors (user's or data-scaled defaults).

    ``scales`` holds ``x_scale`` (per feature), ``x_sq`` (mean squared norm of the rows),
    ``y_scale``, ``y_shift`` and ``has_y_err``.
    """
    xs, ys = scales["x_scale"], scales["y_scale"]
    xs_iso = float(np.exp(np.mean(np.log(xs))))
    specs = []
    for name, (size, kind) in kernel.params.items():
        if kind == "outputscale":
            ref = ys**2 / scales["x_sq"] ** kernel.linear_factors[name]
        elif kind == "alpha" or name in getattr(kernel, "unitless", ()):
            # Dimensionless: a reference in the units of x made the periodic kernel's default
            # prior and bounds depend on them (x in ms instead of s: 54 nats of evidence lost).
            ref = 1.0
        else:
            ref = xs if size == len(xs) and size > 1 else xs_iso
        specs.append((name, size, kind, ref))
    if mean == "constant":
        specs.append(("mean_constant", 1, "mean_constant", scales["y_shift"]))
    elif mean == "linear":
        specs.append(("mean_intercept", 1, "mean_intercept", scales["y_shift"]))
        specs.append(("mean_coef", len(xs), "mean_coef", 0.0))
    specs.append(("noise", 1, "noise", 0.1 * ys))

    known = {s[0] for s in specs} | {s[2] for s in specs}
    unknown = sorted(set(priors) - known)
    if unknown:
        raise ValueError(f"priors has unknown key(s) {unknown}; valid keys: {sorted(known)}")
    if noise is not None and "noise" in priors:
        raise ValueError("give the noise either as noise=... or as priors['noise'], not both")

    params = []
    for name, size, kind, ref in specs:
        ref = np.broadcast_to(np.asarray(ref, dtype=np.float64), (size,)).copy()
        if kind == "noise" and noise is not None:
            prior = as_prior(noise, "noise")
            if isinstance(prior, Fixed) and prior.value < 0:
                raise ValueError(f"noise must be >= 0 (a standard deviation), got {prior.value}")
        elif name in priors or kind in priors:
            value = priors[name] if name in priors else priors[kind]
            prior = None if value is None else as_prior(value, f"priors[{name!r}]")
        else:
            prior = _default_prior(kind, ref, scales)
        _check_prior(name, kind, size, prior)
        loc, unit, centre = 0.0, 1.0, None
        if kind in ("mean_constant", "mean_intercept"):
            loc, unit = scales["y_shift"], ys
        elif kind == "mean_coef":
            unit = ys / np.asarray(xs, dtype=np.float64)
        if kind == "mean_intercept":
            centre = np.asarray(scales["x_mean"], dtype=np.float64)
        params.append(Param(name, size, kind, prior, ref, loc, unit, centre))
    return params


def _default_prior(kind: str, ref: np.ndarray, scales: dict) -> Prior:
    # Weakly informative on standardised data, written in original units.
    if kind == "mean_constant":
        return Normal(float(ref[0]), 2.0 * scales["y_scale"])
    if kind == "mean_intercept":
        # The intercept is the mean at x = 0, which may lie far from the data (x in calendar
        # years): the width is that of the mean at the data centre, Normal(mean y, 2 sd y),
        # and of the slopes' prior carried to x = 0, so that a trend is not pinned to 0. With
        # centred inputs it is Normal(mean y, 2 sd y).
        offset = np.asarray(scales["x_mean"]) / np.asarray(scales["x_scale"])
        width = 2.0 * scales["y_scale"] * float(np.sqrt(1.0 + np.sum(offset**2)))
        return Normal(float(ref[0]), width)
    if kind == "mean_coef":
        return Normal(0.0, 2.0 * scales["y_scale"] / scales["x_scale"])
    if kind == "noise":
        return LogNormal(float(np.log(ref[0])), 2.0)
    return LogNormal(np.log(ref) if ref.size > 1 else float(np.log(ref[0])), DEFAULT_LOG_SD)


def _check_prior(name: str, kind: str, size: int, prior: Prior | None) -> None:
    if prior is None:
        return
    if kind in POSITIVE_KINDS and prior.support == "real" and not isinstance(prior, Fixed):
        raise ValueError(
            f"priors[{name!r}] must be a prior on positive values (LogNormal, HalfNormal, "
            f"Gamma, ...), got {prior!r}"
        )
    if isinstance(prior, Fixed) and kind in POSITIVE_KINDS and kind != "noise":
        if np.any(np.asarray(prior.value) <= 0):
            raise ValueError(f"a fixed {name} must be > 0, got {prior.value}")
    try:
        shape = np.broadcast_shapes(prior.batch_shape, (size,))
    except ValueError:
        raise ValueError(
            f"priors[{name!r}] has batch shape {prior.batch_shape}, which does not broadcast to "
            f"the {size} value(s) of {name}"
        ) from None
    # (2,) broadcasts with (1,) but gives two values to a one-value parameter (ard=False, one
    # feature): it failed later inside torch with a RuntimeError.
    if shape != (size,):
        raise ValueError(
            f"priors[{name!r}] must be scalar or of shape ({size},) ({name} has {size} "
            f"value(s)), got batch shape {prior.batch_shape}"
        )


class HyperSpace:
    """Packing of the free hyperparameters into one unconstrained vector ``z``."""

    _centre = None  # (intercept name, coef name, centre) of a centred linear mean

    def __init__(self, params: list[Param], y_scale: float, y_shift: float):
        self.params = params
        self.y_scale, self.y_shift = float(y_scale), float(y_shift)
        self.free = [p for p in params if not p.fixed]
        self.dim = sum(p.size for p in self.free)
        # A free linear mean on the real line: the intercept's coordinate is the mean at the
        # data centre, intercept + coef . centre. Otherwise, with inputs far from 0 (calendar
        # years), intercept and slope are almost perfectly correlated and the optimisers crawl
        # along that valley. The map is triangular with unit diagonal: no Jacobian.
        free = {p.kind: p for p in self.free}
        intercept, coef = free.get("mean_intercept"), free.get("mean_coef")
        self._centre = None
        if intercept is not None and coef is not None and intercept.affine and coef.affine:
            if intercept.centre is not None and np.any(intercept.centre != 0):
                self._centre = (intercept.name, coef.name, intercept.centre)

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.params]

    def _blocks(self, z: torch.Tensor) -> dict[str, torch.Tensor]:
        """Each free parameter's value before its transform (``transform.inverse(value)``)."""
        out, offset = {}, 0
        for p in self.free:
            out[p.name] = p.constrained(z[:, offset : offset + p.size])
            offset += p.size
        if self._centre is not None:
            intercept, coef, centre = self._centre
            out[intercept] = out[intercept] - out[coef] @ _like(centre, z)[:, None]
        return out

    def values(self, z: torch.Tensor) -> dict[str, torch.Tensor]:
        """Original-unit values ``(batch, size)`` of every parameter from ``z`` ``(batch, dim)``."""
        blocks, out = self._blocks(z), {}
        for p in self.params:
            if p.fixed:
                value = torch.as_tensor(np.array(p.prior.value, dtype=np.float64))
                out[p.name] = value.expand(z.shape[0], p.size)
            else:
                out[p.name] = p.transform.forward(blocks[p.name])
        return out

    def standardise(self, values: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Convert original-unit values to the units of the standardised targets."""
        s, out = self.y_scale, {}
        for p in self.params:
            v = values[p.name]
            if p.kind == "outputscale":
                v = v / s**2
            elif p.kind in ("noise", "mean_coef"):
                v = v / s
            elif p.kind in ("mean_constant", "mean_intercept"):
                v = (v - self.y_shift) / s
            out[p.name] = v
        return out

    def log_prior(self, z: torch.Tensor, *, jacobian: bool) -> torch.Tensor:
        """Sum of log priors at ``z`` ``(batch, dim)``; with ``jacobian``, the density of z."""
        total = torch.zeros(z.shape[0], dtype=z.dtype)
        blocks = self._blocks(z)
        for p in self.free:
            block = blocks[p.name]
            if p.prior is None:
                continue
            if jacobian:
                # The affine map of a standardised block adds the constant log(unit).
                lp = p.prior.log_prob_unconstrained(block)
                if p.affine:
                    lp = lp + _like(np.log(p.unit), block)
            else:
                lp = self._dist(p).log_prob(p.transform.forward(block))
            total = total + lp.expand(block.shape).sum(-1)
        return total

    def _dist(self, p: Param) -> torch.distributions.Distribution:
        # Built once: converting the prior's parameters to tensors at every call of a
        # millisecond-scale objective is a noticeable part of its cost.
        cache = self.__dict__.setdefault("_dists", {})
        if p.name not in cache:
            cache[p.name] = p.prior.to_torch(validate_args=False)
        return cache[p.name]

    def __getstate__(self):
        return {k: v for k, v in self.__dict__.items() if k != "_dists"}

    def pack(self, values: dict[str, np.ndarray]) -> np.ndarray:
        """Unconstrained vector of the free parameters from original-unit values."""
        pre = {
            p.name: np.broadcast_to(
                np.asarray(p.transform.inverse(np.broadcast_to(values[p.name], (p.size,)))),
                (p.size,),
            ).astype(np.float64)
            for p in self.free
        }
        if self._centre is not None:
            intercept, coef, centre = self._centre
            pre[intercept] = pre[intercept] + pre[coef] @ centre
        blocks = [np.broadcast_to(p.unconstrained(pre[p.name]), (p.size,)) for p in self.free]
        return np.concatenate(blocks) if blocks else np.zeros(0)

    def reference(self) -> np.ndarray:
        """``z`` at the reference values (the default starting point)."""
        return self.pack({p.name: p.ref for p in self.free})

    def draw(self, rng: np.random.Generator) -> np.ndarray:
        """A random starting point: a prior draw, or log-uniform within the bounds if flat."""
        values = {}
        for p in self.free:
            if p.prior is None and p.kind in POSITIVE_KINDS:
                values[p.name] = np.exp(rng.uniform(np.log(p.ref / 100.0), np.log(p.ref * 100.0)))
            elif p.prior is None:  # the mean's: one standard deviation of y (per unit of x)
                values[p.name] = p.ref + rng.normal(size=p.size) * p.unit
            else:
                values[p.name] = p.sample_prior(1, rng)[0]
        return np.clip(self.pack(values), *zip(*self.bounds(), strict=True))

    def bounds(self) -> list[tuple[float, float]]:
        """L-BFGS-B box on ``z``: ten decades around the reference for log-scaled parameters."""
        out = []
        for p in self.free:
            for j in range(p.size):
                if isinstance(p.transform, Exp):
                    ref = np.log(p.ref[j])
                    out.append((ref - np.log(BOUND_FACTOR), ref + np.log(BOUND_FACTOR)))
                else:
                    out.append((-np.inf, np.inf))
        return out


def values(space: HyperSpace, z: np.ndarray) -> dict[str, np.ndarray]:
    """Original-unit values of every hyperparameter, shaped ``(chain, draw[, size])``."""
    chains, draws, dim = z.shape
    with torch.no_grad():
        vals = space.values(torch.as_tensor(z.reshape(chains * draws, dim)))
    out = {}
    for p in space.params:
        v = vals[p.name].numpy().reshape(chains, draws, p.size)
        out[p.name] = v[..., 0] if p.size == 1 else v
    return out


def point_draw(space: HyperSpace, z_hat: np.ndarray) -> dict[str, np.ndarray]:
    """``values`` of one point ``z_hat``: one chain of one draw."""
    return values(space, z_hat[None, None, :])


def point_values(space: HyperSpace, z_hat: np.ndarray) -> dict:
    """``hyperparameters_``: floats for scalars, arrays for per-feature values."""
    return {
        k: (float(v[0, 0]) if v.ndim == 2 else v[0, 0].copy())
        for k, v in point_draw(space, z_hat).items()
    }


def feature_dims(parameters: dict[str, np.ndarray]) -> dict[str, list[str]]:
    """Vector hyperparameters (ARD lengthscales, linear-mean coefficients) are per feature."""
    return {k: [FEATURE_DIM] for k, v in parameters.items() if np.ndim(v) == 3}
