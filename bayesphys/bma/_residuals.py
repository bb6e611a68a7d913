"""One mass model corrected by residual models fitted per parity class of (Z, N)."""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.base import clone

from bayesphys.core.distributed import check_client, map_tasks, spawn_seeds
from bayesphys.core.interrupts import is_interrupted
from bayesphys.core.priors import InverseGamma
from bayesphys.data._derived import (
    DataCoverageWarning,
    check_nucleon_numbers,
    check_table,
    check_uncertainty,
    real_column,
)
from bayesphys.data.masses import separation_energy

# Even/odd Z and N nuclei have different pairing contributions, so their residuals are
# correlated within, not across, these classes.
PARITY_CLASSES = ("ee", "eo", "oe", "oo")


def parity_class(Z, N) -> np.ndarray:
    """``"ee"``, ``"eo"``, ``"oe"`` or ``"oo"`` (Z parity first) for each nucleus."""
    z = check_nucleon_numbers(Z, "Z") % 2
    n = check_nucleon_numbers(N, "N") % 2
    if z.shape != n.shape:
        raise ValueError(f"Z and N must have the same length, got {len(z)} and {len(n)}")
    return np.array(PARITY_CLASSES)[2 * z + n]


def observable_for(observable: str, N) -> np.ndarray:
    """The observable used at each nucleus: ``"auto"`` is S2n at even N and S1n at odd N."""
    n = np.asarray(N, dtype=int)
    if observable == "auto":
        return np.where(n % 2 == 0, "S2n", "S1n")
    return np.full(n.shape, observable)


# MeV. The largest |S1n|, |S2n| of every shipped table is 58 MeV (AME: 43 MeV); a table in keV
# (as the AME files print them) has values of thousands.
MAX_SEPARATION_ENERGY = 200.0


def observable_table(
    table: pd.DataFrame, observable: str, name: str, *, stacklevel: int = 2
) -> pd.DataFrame:
    """Columns Z, N, ``value``, ``uncertainty`` (0 where unknown) of the observable.

    ``table`` is a mass table (``mass_excess``; the observable is derived) or already holds the
    observable as a column (e.g. from :func:`bayesphys.data.masses.new_measurements`), with
    integer ``Z``, ``N`` and optionally ``<observable>_uncertainty``. Uncertainties must be
    finite and >= 0 (NaN means unknown, e.g. AME2003, and becomes 0: the residual model's
    learned noise then carries the scatter). Rows whose observable is NaN are dropped with a
    :class:`~bayesphys.data.masses.DataCoverageWarning` (``stacklevel`` as in
    ``warnings.warn``, counted from the caller); infinite values are refused.
    """
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"{name} must be a pandas DataFrame, got {type(table).__name__}")
    if table.empty:
        raise ValueError(
            f"{name} is empty: pass a table of nuclei (Z, N and mass_excess, or the observable)"
        )
    kinds = ("S2n", "S1n") if observable == "auto" else (observable,)
    parts = []
    dropped = 0
    for kind in kinds:
        if kind in table.columns:
            frame = table
            missing = [c for c in ("Z", "N") if c not in frame.columns]
            if missing:
                raise ValueError(f"{name} lacks column(s) {missing}; it has {list(frame.columns)}")
        elif "mass_excess" in table.columns:
            frame = separation_energy(check_table(table, name), kind)
        else:
            raise ValueError(
                f"{name} needs a mass_excess column or a {kind} column; it has {list(table)}"
            )
        Z = check_nucleon_numbers(frame["Z"], f"{name}: column Z")
        N = check_nucleon_numbers(frame["N"], f"{name}: column N")
        value = real_column(frame[kind], name, kind)
        if np.isinf(value).any():
            raise ValueError(
                f"{name}: column {kind} has {int(np.isinf(value).sum())} infinite value(s); "
                "drop or fix those rows"
            )
        largest = np.nanmax(np.abs(value), initial=0.0)
        if largest > MAX_SEPARATION_ENERGY:
            source = "" if frame is table else " (from its mass_excess column)"
            raise ValueError(
                f"{name}: {kind}{source} reaches {largest:g} MeV; separation energies of nuclei "
                f"lie within about +-60 MeV: is the table in keV? Convert it to MeV"
            )
        unc_col = f"{kind}_uncertainty"
        if frame is table and unc_col not in table.columns and "uncertainty" in table.columns:
            # A table of the observable itself: its plain "uncertainty" column can only be the
            # observable's (with a mass_excess column it would be the masses': ambiguous).
            if "mass_excess" in table.columns or observable == "auto":
                raise ValueError(
                    f"{name}: column uncertainty is ambiguous next to a {kind} column; name the "
                    f"{kind} uncertainties {unc_col}"
                    + (" (and those of S1n S1n_uncertainty)" if observable == "auto" else "")
                )
            unc_col = "uncertainty"
        unc = np.zeros(len(frame))
        if unc_col in frame.columns:
            unc = real_column(frame[unc_col], name, unc_col)
            check_uncertainty(unc, name, unc_col)
        used = observable_for(observable, N) == kind
        keep = used & np.isfinite(value)
        dropped += int((used & ~keep).sum())
        part = pd.DataFrame(
            {"Z": Z, "N": N, "value": value, "uncertainty": np.nan_to_num(unc, nan=0.0)}
        )
        parts.append(part[keep])
    if dropped:
        warnings.warn(
            f"{name}: {dropped} row(s) with a NaN {observable} value dropped",
            DataCoverageWarning,
            stacklevel=stacklevel + 1,
        )
    out = pd.concat(parts, ignore_index=True).sort_values(["Z", "N"]).reset_index(drop=True)
    if out.empty:
        raise ValueError(f"{name} gives no {observable} values")
    repeated = out.duplicated(["Z", "N"])
    if repeated.any():
        # A nucleus twice would count twice: in a residual fit, in a validation log score.
        first = out.loc[repeated].iloc[0]
        raise ValueError(
            f"{name} has {int(repeated.sum())} repeated (Z, N) row(s) of {observable} (e.g. "
            f"Z={int(first['Z'])}, N={int(first['N'])}); keep one value per nucleus"
        )
    return out


RESIDUAL_SHORTCUTS = ("gp", "bnn")
# Lengthscale prior of the residual GPs. The inputs are the integers (Z, N), used as given by
# GPRegression (it standardises y, not X), so lengthscales are in nucleons. Within a parity
# class neighbours are 2 apart: their kernel correlation exp(-2 / rho^2) is 0.14 at rho = 1 and
# 0.009 at rho = 0.65, so below about 1 nucleon every nucleus is independent of the next, the
# likelihood is flat in rho (only eta^2 + noise^2 is identified) and NUTS wanders down that
# ridge. GPRegression's default, LogNormal(log std(X_j), 1.5) with std(Z) = 24 and std(N) = 36,
# already puts only 1.7% (Z) and 0.8% (N) below 1, but its Gaussian tail in log rho is only
# 3.7 nats below its peak at rho = 0.6 (7.7 at 0.1), a toll the likelihood pays. The inverse
# gamma's tail falls as exp(-beta / rho) (6.4 nats at 0.6, 71 at 0.1), which closes the ridge
# (docs/bma.md, "Lengthscale prior", for the evidence it was chosen on).
LENGTHSCALE_FLOOR = 1.0  # nucleons
LENGTHSCALE_MASS_BELOW_FLOOR = 0.01
LENGTHSCALE_PRIOR_SHAPE = 3.0
RESIDUAL_PRIORS = ("lattice", "default")


def residual_lengthscale_prior(
    floor: float = LENGTHSCALE_FLOOR,
    mass_below: float = LENGTHSCALE_MASS_BELOW_FLOOR,
    shape: float = LENGTHSCALE_PRIOR_SHAPE,
) -> InverseGamma:
    """The inverse-gamma lengthscale prior with ``mass_below`` of its mass below ``floor``.

    ``rho ~ InverseGamma(shape, beta)`` has ``P(rho < floor) = Q(shape, beta / floor)`` (the
    regularised upper incomplete gamma function), solved here for ``beta``.

    Parameters
    ----------
    floor : float
        Lengthscale (nucleons) below which the prior puts ``mass_below``.
    mass_below : float
        Prior probability of ``rho < floor``, in (0, 1).
    shape : float
        Inverse-gamma shape ``alpha`` (> 0): larger is lighter-tailed towards long lengthscales.

    Returns
    -------
    InverseGamma
    """
    from scipy.optimize import brentq
    from scipy.special import gammaincc

    for name, value in (("floor", floor), ("mass_below", mass_below), ("shape", shape)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"{name} must be a real number, got {value!r}")
    if not (np.isfinite(floor) and floor > 0):
        raise ValueError(f"floor must be a finite number > 0, got {floor!r}")
    if not 0 < mass_below < 1:
        raise ValueError(f"mass_below must be in (0, 1), got {mass_below!r}")
    if not (np.isfinite(shape) and shape > 0):
        raise ValueError(f"shape must be a finite number > 0, got {shape!r}")
    # Q(shape, x) falls from 1 to 0 as x grows; bracket the root by doubling.
    upper = 1.0
    while gammaincc(shape, upper) > mass_below:
        upper *= 2.0
    x = brentq(lambda t: gammaincc(shape, t) - mass_below, 0.0, upper, xtol=1e-12)
    return InverseGamma(float(shape), float(x * floor))


# Residual GPs with NUTS hyperparameters (``residual_gp("nuts")``). GPRegression's own NUTS
# defaults, 4 x (1000 + 1000) draws, are sized for converged hyperparameters; the average needs
# only each GP's predictive mean and sd, which move little with them: on a fit with smallest
# bulk ESS 59 and R-hat 1.047 the Monte Carlo error of the corrected mean was at most 0.07
# predictive sd over the chart, and mixing 50 thinned draws instead of all 300 moved it by at
# most 0.09 sd (docs/bma.md). The fits that fail the convergence checks are reported
# (residual_convergence, convergence_checks), not hidden.
GP_NUTS_SETTINGS = {"chains": 2, "tune": 100, "draws": 150}
GP_NUTS_PREDICT_DRAWS = 50


def residual_gp(method: str = "map", prior: str = "lattice"):
    """The default residual GP: ARD RBF kernel over (Z, N), MAP or NUTS hyperparameters.

    Parameters
    ----------
    method : {"map", "nuts"}
        ``"nuts"`` integrates over the hyperparameters with 2 chains of 100 tuning and 150 kept
        draws, predictions mixed over 50 draws: sized for the predictive mean and sd that the
        average uses (see ``GP_NUTS_SETTINGS``); check them with :func:`residual_convergence`.
    prior : {"lattice", "default"}
        ``"lattice"``: both lengthscales get :func:`residual_lengthscale_prior` (an inverse
        gamma with 1% of its mass below 1 nucleon, where neighbours of a parity class, 2
        apart, stop being correlated); ``"default"``: GPRegression's data-scaled defaults.
        The outputscale and noise keep GPRegression's defaults either way.

    Returns
    -------
    GPRegression
        Unfitted; pass it as ``MassModelAveraging(residual_model=...)``.
    """
    from bayesphys.gp import GPRegression
    from bayesphys.inference import MAP, NUTS

    if prior not in RESIDUAL_PRIORS:
        raise ValueError(f"prior must be one of {list(RESIDUAL_PRIORS)}, got {prior!r}")
    priors = {"lengthscale": residual_lengthscale_prior()} if prior == "lattice" else None
    if method == "map":
        # ARD: separate rho_Z and rho_N.
        return GPRegression(kernel="rbf", ard=True, priors=priors, method=MAP())
    if method == "nuts":
        return GPRegression(
            kernel="rbf",
            ard=True,
            priors=priors,
            method=NUTS(**GP_NUTS_SETTINGS),
            max_predict_draws=GP_NUTS_PREDICT_DRAWS,
        )
    raise ValueError(f"method must be 'map' or 'nuts', got {method!r}")


def resolve_residual_model(residual_model):
    """An unfitted residual estimator from a shortcut (``"gp"``, ``"bnn"``) or an estimator.

    ``"gp"`` is :func:`residual_gp` (MAP hyperparameters); ``"bnn"`` a
    ``BayesianNeuralNetwork(hidden=(10,))`` sampled by NUTS with trees capped at depth 7. An
    estimator is used as the template that every (mass model, parity class) fit clones.
    """
    if isinstance(residual_model, str):
        if residual_model == "gp":
            return residual_gp("map")
        if residual_model == "bnn":
            from bayesphys.bnn import BayesianNeuralNetwork
            from bayesphys.inference import NUTS

            # Depth 7: BNN trees tend to use the whole budget (see docs/bnn.md).
            return BayesianNeuralNetwork(hidden=(10,), method=NUTS(max_treedepth=7))
        raise ValueError(
            f"residual_model must be one of {list(RESIDUAL_SHORTCUTS)} or an estimator "
            f"(GPRegression(...), BayesianNeuralNetwork(...)), got {residual_model!r}"
        )
    if not (hasattr(residual_model, "fit") and hasattr(residual_model, "get_params")):
        raise TypeError(
            "residual_model must be 'gp', 'bnn' or an unfitted estimator such as "
            f"GPRegression(...), got {type(residual_model).__name__}"
        )
    return residual_model


@dataclass(frozen=True)
class ResidualTask:
    """One residual-model fit (one mass model, one parity class) as plain, picklable data.

    The unit of work shipped to a Dask worker: :func:`fit_residual` needs nothing else.
    """

    model: str
    parity: str
    estimator: object  # unfitted template, cloned with this task's seed
    X: np.ndarray
    residual: np.ndarray
    y_err: np.ndarray | None
    seed: int


def fit_residual(task: ResidualTask):
    """The fitted residual model of ``task`` (runs in-process or on a worker).

    Warnings of the fit (divergences, an optimiser that stopped early) are raised again with
    the model and parity class in front: one model-averaging fit runs up to 4 per mass model.
    """
    model = clone(task.estimator).set_params(random_state=task.seed)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fitted = model.fit(task.X, task.residual, y_err=task.y_err, progressbar=False)
    for w in caught:
        warnings.warn(
            f"{task.model} residuals, {task.parity} nuclei: {w.message}", w.category, stacklevel=2
        )
    return fitted


def predict_residual(job: tuple) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std (learned noise included) of a fitted residual model at X: ``(model, X)``."""
    model, X = job
    return model.predict(X, return_std=True, include_noise=True)


@dataclass
class CorrectedModel:
    """A mass model plus one residual model per parity class (``experiment - model``)."""

    name: str
    theory: pd.DataFrame  # observable_table of the model
    residual_models: dict = field(default_factory=dict)
    residual_rms: float = float("nan")
    # parity class -> (X, residual, y_err) of its residual fit: evidence weights need the
    # training nuclei of every model to compare them on the same data.
    training: dict = field(default_factory=dict)
    # Parity classes whose residual fit never ran (Ctrl-C stopped the fits before it).
    unfitted: list = field(default_factory=list)

    def residual_tasks(
        self,
        train: pd.DataFrame,
        estimator,
        seeds: Sequence[int],
    ) -> list[ResidualTask]:
        """The residual fits of this model, one per parity class with >= 3 training nuclei.

        ``seeds`` holds one seed per entry of ``PARITY_CLASSES``, so that a class skipped for
        lack of data does not shift the streams of the others. Sets ``residual_rms``.
        """
        data = train.merge(self.theory, on=["Z", "N"], suffixes=("", "_model"))
        if len(data) < 8:
            raise ValueError(f"model {self.name} covers only {len(data)} training nuclei")
        residual = data["value"] - data["value_model"]
        self.residual_rms = float(np.sqrt(np.mean(residual**2)))
        classes = parity_class(data["Z"], data["N"])
        tasks = []
        for cls, seed in zip(PARITY_CLASSES, seeds, strict=True):
            rows = classes == cls
            if rows.sum() < 3:
                # e.g. odd-N classes under a pure S2n protocol restricted by the user: no
                # residual model, so this model predicts nothing for the class.
                if rows.sum() > 0:
                    warnings.warn(
                        f"model {self.name}: only {int(rows.sum())} training nuclei in parity "
                        f"class {cls!r} (< 3): no residual model is fitted for it and this "
                        "model gives no prediction (NaN) for its nuclei",
                        DataCoverageWarning,
                        stacklevel=4,
                    )
                continue
            err = data.loc[rows, "uncertainty"].to_numpy(float)
            y_err = np.where(err > 0, err, np.nan)
            # Known errors only where every point has one; else the learned noise carries all.
            y_err = None if np.isnan(y_err).any() else y_err
            task = ResidualTask(
                model=self.name,
                parity=cls,
                estimator=estimator,
                # Copies: pandas hands out read-only views, which torch warns about.
                X=np.array(data.loc[rows, ["Z", "N"]], dtype=float),
                residual=np.array(residual[rows], dtype=float),
                y_err=y_err,
                seed=int(seed),
            )
            tasks.append(task)
        return tasks

    @property
    def log_evidence(self) -> float:
        """Sum over parity classes of the residual models' log marginal likelihoods."""
        values = [
            getattr(m, "log_marginal_likelihood_", None) for m in self.residual_models.values()
        ]
        if any(v is None for v in values):
            raise ValueError(
                f"the residual models of {self.name} have no log_marginal_likelihood_: use "
                "weights='predictive', 'stacking' or 'uniform'"
            )
        return float(np.sum(values))

    def predict(self, Z, N, client=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Corrected observable mean and std at (Z, N), and the bare model's value.

        Nuclei the model's table does not cover get NaN in all three. The std includes the
        residual model's learned noise: the scatter of the model about the truth.
        """
        return predict_corrected([self], Z, N, client)[0]


def fit_corrected(
    theories: Mapping[str, pd.DataFrame],
    train: pd.DataFrame,
    estimator,
    seed: int,
    client=None,
) -> dict[str, CorrectedModel]:
    """Every model's residual fits, as one batch of tasks (in-process or on ``client``).

    Task ``(k, class)`` uses stream ``4 k + class`` of ``spawn_seeds(seed, ...)``: the same
    numbers whichever worker fits it.
    """
    corrected = {name: CorrectedModel(name, theory) for name, theory in theories.items()}
    covered = np.zeros(len(train), dtype=bool)
    for theory in theories.values():
        covered |= _rows_in(train, theory)
    if not covered.all():
        warnings.warn(
            f"train_table: {int((~covered).sum())} of {len(train)} nuclei are in no mass "
            "model's table and are left out of every residual fit",
            DataCoverageWarning,
            stacklevel=3,
        )
    seeds = spawn_seeds(seed, len(corrected) * len(PARITY_CLASSES))
    tasks = []
    for k, model in enumerate(corrected.values()):
        block = seeds[k * len(PARITY_CLASSES) : (k + 1) * len(PARITY_CLASSES)]
        tasks += model.residual_tasks(train, estimator, block)
    if check_client(client) is None:
        fitted = _fit_until_interrupted(tasks)
    else:
        fitted = map_tasks(fit_residual, tasks, client, name="bma-fit-residual", partial=True)
    for task, residual_model in zip(tasks, fitted, strict=True):
        if residual_model is None:  # not run: the fits were interrupted
            corrected[task.model].unfitted.append(task.parity)
            continue
        corrected[task.model].residual_models[task.parity] = residual_model
        corrected[task.model].training[task.parity] = (task.X, task.residual, task.y_err)
    return corrected


def _fit_until_interrupted(tasks: Sequence[ResidualTask]) -> list:
    """The residual fits one after the other, stopping at Ctrl-C (``None`` for those not run).

    A sampler stopped by Ctrl-C returns its draws so far, marked interrupted, instead of
    raising: the fits after it must not start, or Ctrl-C would stop one fit of dozens.
    """
    fitted: list = [None] * len(tasks)
    for i, task in enumerate(tasks):
        try:
            fitted[i] = fit_residual(task)
        except KeyboardInterrupt:
            break
        if is_interrupted(fitted[i]):
            break
    return fitted


def interrupted_fits(corrected: Mapping[str, CorrectedModel]) -> str | None:
    """How far interrupted residual fits got (``None`` when every fit ran to the end)."""
    total = sum(len(m.residual_models) + len(m.unfitted) for m in corrected.values())
    marked = sum(is_interrupted(r) for m in corrected.values() for r in m.residual_models.values())
    skipped = sum(len(m.unfitted) for m in corrected.values())
    if not marked and not skipped:
        return None
    complete = total - marked - skipped
    return (
        f"{complete} of {total} residual fits complete, {marked} stopped early, {skipped} not run"
    )


def common_log_evidence(models: Sequence[CorrectedModel]) -> tuple[np.ndarray, int, int]:
    """Each model's log evidence on the training nuclei that every model's residual fits used.

    Evidences are only comparable on the same data: a model whose table stops short of some
    training nuclei (TCSM12 and TCSM13 start at Z = 25), or that has no residual fit for a
    parity class, would otherwise be scored on fewer nuclei, and each nucleus moves a log
    evidence by about a nat. Where the training sets differ, each residual GP's evidence is
    that of the shared nuclei at its fitted hyperparameters (a Gaussian marginal: the others
    are integrated out).

    Returns
    -------
    scores : ndarray (n_models,)
    n_common, n_union : int
        Training nuclei shared by every model, and used by any.
    """
    keys = []
    for model in models:
        fitted = [np.asarray(X[:, :2], dtype=np.int64) for X, _, _ in model.training.values()]
        both = np.concatenate(fitted) if fitted else np.empty((0, 2), dtype=np.int64)
        keys.append(set(map(tuple, both.tolist())))
    union = set().union(*keys)
    common = set.intersection(*keys) if keys else set()
    if len(common) == len(union):
        return np.array([model.log_evidence for model in models]), len(common), len(union)
    if not common:
        raise ValueError(
            "weights='evidence': no training nucleus is fitted by every model, so their "
            "evidences cannot be compared; use weights='predictive', 'stacking' or 'existence'"
        )
    scores = []
    for model in models:
        model.log_evidence  # noqa: B018 -- raises for residual models without one
        total = 0.0
        for cls, (X, residual, y_err) in model.training.items():
            rows = np.array([(int(z), int(n)) in common for z, n in X[:, :2]], dtype=bool)
            if rows.all():
                total += float(model.residual_models[cls].log_marginal_likelihood_)
            elif rows.any():
                err = None if y_err is None else y_err[rows]
                total += _subset_log_evidence(
                    model.residual_models[cls], X[rows], residual[rows], err
                )
        scores.append(total)
    return np.array(scores), len(common), len(union)


def _subset_log_evidence(fitted, X, y, y_err) -> float:
    """``log p(y | X)`` of a fitted GPRegression's model at its fitted hyperparameters.

    A clone with every hyperparameter fixed at the fitted value has nothing left to optimise:
    its log marginal likelihood is that of the subset (in y units, whatever its standardisation).
    """
    values = dict(fitted.hyperparameters_)
    noise = values.pop("noise")
    frozen = clone(fitted).set_params(
        priors=values,
        noise=float(noise),
        method="map",
    )
    return float(frozen.fit(X, y, y_err=y_err, progressbar=False).log_marginal_likelihood_)


def _rows_in(table: pd.DataFrame, other: pd.DataFrame) -> np.ndarray:
    """Which (Z, N) rows of ``table`` are also in ``other``."""
    index = pd.MultiIndex.from_frame(other[["Z", "N"]])
    return pd.MultiIndex.from_frame(table[["Z", "N"]]).isin(index)


def predict_corrected(
    models: Sequence[CorrectedModel], Z, N, client=None
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """``(mean, std, bare)`` of each corrected model at (Z, N); one task per model and class."""
    Z, N = check_nucleon_numbers(Z, "Z"), check_nucleon_numbers(N, "N")
    if Z.shape != N.shape:
        raise ValueError(f"Z and N must have the same length, got {len(Z)} and {len(N)}")
    query = pd.DataFrame({"Z": Z, "N": N})
    classes = parity_class(Z, N)
    plans, jobs = [], []
    for model in models:
        bare = query.merge(model.theory, on=["Z", "N"], how="left")["value"].to_numpy()
        parts = []
        for cls, residual_model in model.residual_models.items():
            rows = (classes == cls) & np.isfinite(bare)
            if rows.any():
                parts.append(rows)
                jobs.append((residual_model, np.column_stack([Z[rows], N[rows]]).astype(float)))
        plans.append((bare, parts))
    client = check_client(client)
    if client is not None and jobs:
        # Send the fitted models to the workers once, outside the task graph: NUTS fits carry
        # their draws (tens of MiB for the whole chart), which the graph would otherwise carry
        # through the scheduler. Scattered data cannot be recomputed, so every worker gets a
        # copy and a lost worker does not take the only one with it.
        handles = client.scatter([model for model, _ in jobs], broadcast=True, hash=False)
        jobs = [(handle, X) for handle, (_, X) in zip(handles, jobs, strict=True)]
    results = iter(map_tasks(predict_residual, jobs, client, name="bma-predict-residual"))
    out = []
    for bare, parts in plans:
        mean = np.full(len(Z), np.nan)
        std = np.full(len(Z), np.nan)
        for rows in parts:
            mu, sd = next(results)
            mean[rows] = bare[rows] + mu
            std[rows] = sd
        out.append((mean, std, bare))
    return out


def residual_convergence(corrected: Mapping[str, CorrectedModel]) -> pd.DataFrame:
    """Convergence of every sampled residual fit: one row per (mass model, parity class).

    Columns: ``n`` (training nuclei), ``chains``, ``draws`` (kept, per chain), ``max_rhat``
    (rank-normalised split R-hat, worst hyperparameter), ``min_ess_bulk`` (smallest bulk ESS),
    ``divergences`` and ``mean_tree_steps`` (leapfrog steps per draw). Point fits (MAP) have
    nothing to check and give no row, so a MAP average gives an empty table.

    Parameters
    ----------
    corrected : mapping of str to CorrectedModel
        ``MassModelAveraging.corrected_``.

    Returns
    -------
    DataFrame
        Indexed by ``(model, parity)``.
    """
    from bayesphys.core import results

    rows = {}
    for name, model in corrected.items():
        for cls, fitted in model.residual_models.items():
            idata = getattr(fitted, "idata_", None)
            if idata is None or "posterior" not in idata.groups():
                continue
            sizes = idata.posterior.sizes
            chains, draws = sizes.get("chain", 1), sizes.get("draw", 1)
            if chains * draws <= 1:
                continue
            stats = idata.sample_stats if "sample_stats" in idata.groups() else {}
            with warnings.catch_warnings():
                # ArviZ warns about the very numbers this table reports.
                warnings.simplefilter("ignore")
                rhat = results.rhat(idata).to_array().values if chains > 1 else np.nan
                ess = results.ess(idata, method="bulk").to_array().values
            rows[(name, cls)] = {
                "n": int(idata.observed_data.sizes.get("obs", 0))
                if "observed_data" in idata.groups()
                else 0,
                "chains": int(chains),
                "draws": int(draws),
                "max_rhat": float(np.nanmax(rhat)),
                "min_ess_bulk": float(np.nanmin(ess)),
                "divergences": int(np.sum(stats["diverging"].values))
                if "diverging" in stats
                else 0,
                "mean_tree_steps": float(np.mean(stats["n_steps"].values))
                if "n_steps" in stats
                else np.nan,
            }
    index = pd.MultiIndex.from_tuples(list(rows), names=["model", "parity"])
    columns = ["n", "chains", "draws", "max_rhat", "min_ess_bulk", "divergences"]
    return pd.DataFrame(list(rows.values()), index=index, columns=[*columns, "mean_tree_steps"])


def convergence_checks(
    table: pd.DataFrame, *, rhat_max: float = 1.01, ess_min: float = 400
) -> list[str]:
    """Report lines for the residual fits of :func:`residual_convergence` that fail a check.

    One line each for R-hat > ``rhat_max``, bulk ESS < ``ess_min`` (the thresholds of the
    report's Checks section) and divergent transitions, naming how many fits fail and the worst
    one; ``[]`` when every fit passes or none was sampled.
    """
    if table.empty:
        return []
    total = len(table)
    lines = []

    def where(label) -> str:
        model, cls = label
        return f"{model} {cls}"

    high = table["max_rhat"] > rhat_max
    if high.any():
        lines.append(
            f"residual GPs: R-hat > {rhat_max} in {int(high.sum())} of {total} fits (worst: "
            f"{where(table['max_rhat'].idxmax())}, {table['max_rhat'].max():.3f})"
        )
    low = table["min_ess_bulk"] < ess_min
    if low.any():
        lines.append(
            f"residual GPs: bulk ESS < {ess_min:g} in {int(low.sum())} of {total} fits (worst: "
            f"{where(table['min_ess_bulk'].idxmin())}, {table['min_ess_bulk'].min():.0f}; median "
            f"{table['min_ess_bulk'].median():.0f} of {int(table['chains'].iloc[0])} x "
            f"{int(table['draws'].iloc[0])} draws)"
        )
    diverging = table["divergences"] > 0
    if diverging.any():
        n_transitions = int((table["chains"] * table["draws"]).sum())
        lines.append(
            f"residual GPs: {int(table['divergences'].sum())} divergent transitions of "
            f"{n_transitions} in {int(diverging.sum())} of {total} fits (most: "
            f"{where(table['divergences'].idxmax())})"
        )
    return lines
