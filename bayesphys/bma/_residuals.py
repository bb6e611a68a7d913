"""One mass model corrected by residual models fitted per parity class of (Z, N)."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.base import clone

from bayesphys.core.distributed import map_tasks, spawn_seeds
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
        unc_col = f"{kind}_uncertainty"
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
    return out


RESIDUAL_SHORTCUTS = ("gp", "bnn")
# Residual GPs with NUTS hyperparameters (``residual_gp("nuts")``). GPRegression's own NUTS
# defaults, 4 x (1000 + 1000) draws, are sized for a single small fit. On the model-averaging
# benchmark (5 models x 4 classes, ~500 nuclei each) 2 x (100 + 150) draws gave each GP a
# smallest bulk ESS of 32 or more (median 130) and R-hat <= 1.055, the worst for lengthscales
# whose posterior has a long prior-dominated tail below the lattice spacing. Mixture predictions
# over 50 draws differed from those over 400 by at most 0.04 predictive sd over the chart.
GP_NUTS_SETTINGS = {"chains": 2, "tune": 100, "draws": 150}
GP_NUTS_PREDICT_DRAWS = 50


def residual_gp(method: str = "map"):
    """The default residual GP: ARD RBF kernel over (Z, N), MAP or NUTS hyperparameters.

    Parameters
    ----------
    method : {"map", "nuts"}
        ``"nuts"`` integrates over the hyperparameters with 2 chains of 100 tuning and 150 kept
        draws, predictions mixed over 50 draws (sized on the model-averaging benchmark).

    Returns
    -------
    GPRegression
        Unfitted; pass it as ``MassModelAveraging(residual_model=...)``.
    """
    from bayesphys.gp import GPRegression
    from bayesphys.inference import MAP, NUTS

    if method == "map":
        return GPRegression(kernel="rbf", ard=True, method=MAP())  # separate rho_Z and rho_N
    if method == "nuts":
        return GPRegression(
            kernel="rbf",
            ard=True,
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
    fitted = map_tasks(fit_residual, tasks, client, name="bma-fit-residual")
    for task, residual_model in zip(tasks, fitted, strict=True):
        corrected[task.model].residual_models[task.parity] = residual_model
    return corrected


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
