"""Inference methods as objects: one class per method, one name per concept.

An estimator's ``method`` is one of these objects (or its name as a string shortcut:
``method="nuts"`` is ``NUTS()``). They are small scikit-learn-style parameter holders, so
``clone``, ``GridSearchCV`` and nested parameters (``set_params(method__draws=500)``) work.
Each family lists the methods it supports; ``resolve_method`` turns a user's value into a
validated copy or raises a ``ValueError`` that lists the supported ones.

The same name means the same thing in every family: ``draws`` are kept draws per chain, ``tune``
the adaptation iterations of MCMC, ``burn_in`` the discarded steps of SGHMC, ``steps`` the
optimiser steps of VI and SVGP, ``max_iter`` the iterations of a deterministic optimiser.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping

from sklearn.base import BaseEstimator, clone

from bayesphys.core.validation import check_positive_int, check_progressbar

__all__ = [
    "HMC",
    "MAP",
    "NUTS",
    "SGHMC",
    "SGPR",
    "SVGP",
    "VI",
    "Conjugate",
    "Evidence",
    "InferenceMethod",
    "resolve_method",
    "resolve_progressbar",
]


class InferenceMethod(BaseEstimator):
    """Base class of the inference-method objects.

    Subclasses hold only their settings (constructor parameters, stored unchanged); ``checked``
    returns a validated copy. ``name`` is the string shortcut, ``sampler`` says whether the
    method produces posterior draws by MCMC or VI (its runs last long enough to show progress).
    """

    name: str = ""
    sampler: bool = False

    def checked(self) -> InferenceMethod:
        """A copy with every setting validated (errors name ``Method.setting``)."""
        method = clone(self)
        method._check()
        return method

    def _check(self) -> None:  # overridden where there is something to check
        pass

    def _draws_and_chains(self) -> None:
        """``draws`` and ``chains`` >= 1, and ``chain_groups`` (where the method has it) at most
        ``chains``: the settings every method with posterior draws shares."""
        self._count("draws")
        self._count("chains")
        if not hasattr(self, "chain_groups"):
            return
        self._count("chain_groups", optional=True)
        if self.chain_groups is not None and self.chain_groups > self.chains:
            raise ValueError(
                f"{type(self).__name__}.chain_groups={self.chain_groups} exceeds "
                f"chains={self.chains}: a group holds at least one chain"
            )

    # --- small validators naming the setting as ``NUTS.draws`` -----------------------------
    def _label(self, setting: str) -> str:
        return f"{type(self).__name__}.{setting}"

    def _count(self, setting: str, *, minimum: int = 1, optional: bool = False) -> None:
        value = getattr(self, setting)
        if optional and value is None:
            return
        setattr(self, setting, check_positive_int(value, self._label(setting), minimum=minimum))

    def _positive(self, setting: str) -> None:
        value = getattr(self, setting)
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"{self._label(setting)} must be a number, got {type(value).__name__}")
        if not 0.0 < float(value) < float("inf"):
            raise ValueError(f"{self._label(setting)} must be > 0 and finite, got {value!r}")
        setattr(self, setting, float(value))

    def _probability(self, setting: str) -> None:
        value = getattr(self, setting)
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"{self._label(setting)} must be a number, got {type(value).__name__}")
        if not 0.0 < float(value) < 1.0:
            raise ValueError(f"{self._label(setting)} must be in (0, 1), got {value!r}")
        setattr(self, setting, float(value))

    def _choice(self, setting: str, choices: tuple[str, ...]) -> None:
        value = getattr(self, setting)
        if value not in choices:
            raise ValueError(
                f"{self._label(setting)} must be one of {list(choices)}, got {value!r}"
            )

    def _flag(self, setting: str) -> None:
        value = getattr(self, setting)
        if not isinstance(value, bool):
            raise TypeError(f"{self._label(setting)} must be True or False, got {value!r}")


class Conjugate(InferenceMethod):
    """Exact closed-form posterior (conjugate prior/likelihood pairs).

    Parameters
    ----------
    draws, chains : int
        Exact independent draws stored in ``idata_`` (``chains`` x ``draws``), so that the
        same diagnostics and ``loo`` work as for MCMC.
    """

    name = "conjugate"

    def __init__(self, draws: int = 1000, chains: int = 4):
        self.draws = draws
        self.chains = chains

    def _check(self) -> None:
        self._draws_and_chains()


class Evidence(InferenceMethod):
    """Empirical Bayes: prior scale and noise at the maximum of the evidence, then the exact
    conditional posterior.

    Parameters
    ----------
    draws, chains : int
        Exact draws of the conditional posterior stored in ``idata_``.
    """

    name = "evidence"

    def __init__(self, draws: int = 1000, chains: int = 4):
        self.draws = draws
        self.chains = chains

    def _check(self) -> None:
        self._draws_and_chains()


class MAP(InferenceMethod):
    """Maximum a posteriori point estimate.

    Parameters
    ----------
    n_restarts : int
        Extra optimiser starts drawn from the priors (where the family has several optima).
    max_iter : int, optional
        Iterations of the deterministic optimiser (family default when ``None``).
    """

    name = "map"

    def __init__(self, n_restarts: int = 0, max_iter: int | None = None):
        self.n_restarts = n_restarts
        self.max_iter = max_iter

    def _check(self) -> None:
        self._count("n_restarts", minimum=0)
        self._count("max_iter", optional=True)


class NUTS(InferenceMethod):
    """The No-U-Turn sampler (multinomial, generalised U-turn criterion).

    Parameters
    ----------
    draws : int
        Kept draws per chain.
    tune : int
        Adaptation iterations (step size, mass matrix), discarded.
    chains : int
        Independent chains.
    target_accept : float
        Target of the step-size adaptation (mean acceptance statistic of each tree). Raise
        towards 0.95-0.99 for funnel-shaped posteriors.
    max_treedepth : int
        Trees stop doubling at this depth (at most ``2**max_treedepth - 1`` leapfrog steps).
    chain_groups : int, optional
        Groups of chains, each one sampler run with its own random stream and adaptation (see
        :doc:`/distributed`); ``None`` is the family's default.
    """

    name = "nuts"
    sampler = True

    def __init__(
        self,
        draws: int = 1000,
        tune: int = 1000,
        chains: int = 4,
        target_accept: float = 0.8,
        max_treedepth: int = 10,
        chain_groups: int | None = None,
    ):
        self.draws = draws
        self.tune = tune
        self.chains = chains
        self.target_accept = target_accept
        self.max_treedepth = max_treedepth
        self.chain_groups = chain_groups

    def _check(self) -> None:
        self._draws_and_chains()
        self._count("tune", minimum=0)
        self._probability("target_accept")
        self._count("max_treedepth")


class HMC(InferenceMethod):
    """Static Hamiltonian Monte Carlo with a jittered number of leapfrog steps.

    Parameters
    ----------
    draws, tune, chains, target_accept, chain_groups
        As for :class:`NUTS`.
    n_leapfrog : int
        Leapfrog steps per transition (jittered).
    """

    name = "hmc"
    sampler = True

    def __init__(
        self,
        draws: int = 1000,
        tune: int = 1000,
        chains: int = 4,
        n_leapfrog: int = 20,
        target_accept: float = 0.8,
        chain_groups: int | None = None,
    ):
        self.draws = draws
        self.tune = tune
        self.chains = chains
        self.n_leapfrog = n_leapfrog
        self.target_accept = target_accept
        self.chain_groups = chain_groups

    def _check(self) -> None:
        self._draws_and_chains()
        self._count("tune", minimum=0)
        self._count("n_leapfrog")
        self._probability("target_accept")


class SGHMC(InferenceMethod):
    """Stochastic-gradient HMC on minibatches (Chen, Fox & Guestrin 2014).

    Parameters
    ----------
    burn_in : int
        Discarded transitions at the start of each chain.
    draws : int
        Kept draws per chain.
    learning_rate : float
        Step parameter of the SGHMC update.
    batch_size : int, optional
        Minibatch size (default ``min(n, 64)``).
    chains : int
    thin : int
        Transitions per kept draw.
    chain_groups : int, optional
        As for :class:`NUTS`.
    """

    name = "sghmc"
    sampler = True

    def __init__(
        self,
        burn_in: int = 2000,
        draws: int = 1000,
        learning_rate: float = 0.01,
        batch_size: int | None = None,
        chains: int = 4,
        thin: int = 10,
        chain_groups: int | None = None,
    ):
        self.burn_in = burn_in
        self.draws = draws
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.chains = chains
        self.thin = thin
        self.chain_groups = chain_groups

    def _check(self) -> None:
        self._draws_and_chains()
        self._count("burn_in", minimum=0)
        self._positive("learning_rate")
        self._count("batch_size", optional=True)
        self._count("thin")


class VI(InferenceMethod):
    """Mean-field variational inference (Bayes by backprop, Blundell et al. 2015).

    Known to under-estimate posterior uncertainty.

    Parameters
    ----------
    steps : int
        Adam steps on the evidence lower bound.
    learning_rate : float
        Adam learning rate.
    batch_size : int, optional
        Minibatch size (default ``min(n, 64)``).
    draws : int
        Independent draws from the fitted ``q`` stored per chain.
    chains : int
        Independent VI fits (from different starts).
    chain_groups : int, optional
        As for :class:`NUTS`.
    """

    name = "vi"
    sampler = True

    def __init__(
        self,
        steps: int = 3000,
        learning_rate: float = 0.01,
        batch_size: int | None = None,
        draws: int = 1000,
        chains: int = 4,
        chain_groups: int | None = None,
    ):
        self.steps = steps
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.draws = draws
        self.chains = chains
        self.chain_groups = chain_groups

    def _check(self) -> None:
        self._draws_and_chains()
        self._count("steps")
        self._positive("learning_rate")
        self._count("batch_size", optional=True)


class SGPR(InferenceMethod):
    """Sparse GP regression with the collapsed bound of Titsias (2009), by L-BFGS-B.

    Parameters
    ----------
    n_inducing : int
        Inducing points m (``O(n m^2)`` per iteration).
    inducing : {"kmeans", "random"}
        Initial inducing inputs: k-means centres or a random subset of the data.
    learn_inducing : bool
        Optimise the inducing inputs with the hyperparameters.
    max_iter : int, optional
        L-BFGS-B iterations (default 100).
    n_restarts : int
        Extra optimiser starts drawn from the priors.
    """

    name = "sgpr"

    def __init__(
        self,
        n_inducing: int = 128,
        inducing: str = "kmeans",
        learn_inducing: bool = True,
        max_iter: int | None = None,
        n_restarts: int = 0,
    ):
        self.n_inducing = n_inducing
        self.inducing = inducing
        self.learn_inducing = learn_inducing
        self.max_iter = max_iter
        self.n_restarts = n_restarts

    def _check(self) -> None:
        self._count("n_inducing")
        self._choice("inducing", ("kmeans", "random"))
        self._flag("learn_inducing")
        self._count("max_iter", optional=True)
        self._count("n_restarts", minimum=0)


class SVGP(InferenceMethod):
    """Stochastic variational GP (Hensman et al. 2013) on minibatches.

    Parameters
    ----------
    n_inducing : int
        Inducing points m.
    batch_size : int
        Minibatch size (``batch_size >= n`` uses every point at every step).
    steps : int
        Minibatch steps (natural gradient on ``q(u)``, Adam on the rest).
    learning_rate : float
        Adam learning rate of the log-hyperparameters and inducing inputs.
    inducing, learn_inducing, n_restarts
        As for :class:`SGPR`.
    """

    name = "svgp"
    sampler = True  # long stochastic optimisation: shows progress by default

    def __init__(
        self,
        n_inducing: int = 128,
        batch_size: int = 512,
        steps: int = 1000,
        learning_rate: float = 0.02,
        inducing: str = "kmeans",
        learn_inducing: bool = True,
        n_restarts: int = 0,
    ):
        self.n_inducing = n_inducing
        self.batch_size = batch_size
        self.steps = steps
        self.learning_rate = learning_rate
        self.inducing = inducing
        self.learn_inducing = learn_inducing
        self.n_restarts = n_restarts

    def _check(self) -> None:
        self._count("n_inducing")
        self._count("batch_size")
        self._count("steps")
        self._positive("learning_rate")
        self._choice("inducing", ("kmeans", "random"))
        self._flag("learn_inducing")
        self._count("n_restarts", minimum=0)


def resolve_method(
    method, supported: Mapping[str, type[InferenceMethod]], owner: str
) -> InferenceMethod:
    """A validated copy of ``method`` (an object or a string shortcut) for ``owner``.

    Parameters
    ----------
    method : str or InferenceMethod
        ``"nuts"`` is ``NUTS()``; an object is cloned and checked, never modified.
    supported : mapping of str to InferenceMethod subclass
        The methods ``owner`` supports, by name.
    owner : str
        Name of the estimator, for the error message.

    Raises
    ------
    ValueError
        If the method is not supported, listing the supported names.
    TypeError
        If ``method`` is neither a string nor an inference-method object.
    """
    names = sorted(supported)
    if isinstance(method, str):
        if method not in supported:
            raise ValueError(
                f"{owner} does not support method={method!r}; supported: {names} "
                "(as strings or bayesphys.inference objects)"
            )
        return supported[method]().checked()
    if isinstance(method, InferenceMethod):
        if supported.get(method.name) is not type(method):
            raise ValueError(
                f"{owner} does not support method={type(method).__name__}(); supported: "
                f"{names} (as strings or bayesphys.inference objects)"
            )
        return method.checked()
    raise TypeError(
        f"method must be a string shortcut ({names}) or a bayesphys.inference object, "
        f"got {type(method).__name__}"
    )


def resolve_progressbar(progressbar: bool | None, method: InferenceMethod) -> bool:
    """The one progress-bar rule: ``None`` shows a bar for MCMC, VI and SVGP runs (long enough
    to want one) and none for closed forms and deterministic optimisers."""
    return check_progressbar(progressbar, default=method.sampler)
