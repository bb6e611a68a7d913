"""Bayesian model averaging of residual-corrected nuclear mass models (Neufcourt et al.)."""

from __future__ import annotations

import copy
import numbers
import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.stats import norm
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from bayesphys.bma._residuals import (
    common_log_evidence,
    fit_corrected,
    interrupted_fits,
    observable_for,
    observable_table,
    predict_corrected,
    resolve_residual_model,
)
from bayesphys.bma.weights import (
    WEIGHT_KINDS,
    existence_log_likelihood,
    normalise_log_weights,
    normalise_log_weights_allow_inf,
    stacking_weights,
    uniform_weights,
    warn_if_concentrated,
)
from bayesphys.core import results
from bayesphys.core.distributed import check_client
from bayesphys.core.interrupts import interrupted_attrs, warn_interrupted
from bayesphys.core.validation import check_random_state
from bayesphys.data._derived import DataCoverageWarning, check_nucleon_numbers
from bayesphys.data.masses import available_models, load_model

OBSERVABLES = ("S2n", "S1n", "auto")


class MassModelAveraging(BaseEstimator):
    """Average mass models, each corrected by a residual model, with Bayesian weights.

    Each model's separation energies are corrected by a residual model of
    ``experiment - model`` on (Z, N), one per parity class (even/odd Z x N): by default a GP
    with kernel ``eta^2 exp(-dZ^2 / 2 rho_Z^2 - dN^2 / 2 rho_N^2)`` plus noise, on top of the
    known experimental errors. The corrected models are averaged with weights from their
    evidence, their predictive score on a validation set, stacking, or uniformly.

    Parameters
    ----------
    models : sequence of str or mapping of str to DataFrame
        Names for :func:`bayesphys.data.masses.load_model`, or ``{name: mass table}`` (columns
        Z, N, mass_excess), e.g. from ``load_model_table`` for a group's own DFT tables.
    observable : {"S2n", "S1n", "auto"}
        Quantity corrected and averaged; ``"auto"`` is S2n at even N and S1n at odd N, the
        quantity whose sign decides neutron binding for each (the drip criterion).
    residual_model : "gp", "bnn" or estimator
        The residual model of each (mass model, parity class), cloned for every fit with its
        own ``random_state``: an unfitted ``GPRegression`` or ``BayesianNeuralNetwork`` whose
        ``method`` says how it is fitted. ``"gp"`` is :func:`residual_gp` ``("map")`` (ARD RBF
        kernel, MAP hyperparameters); ``residual_gp("nuts")`` integrates over the
        hyperparameters with settings sized for this problem. ``"bnn"`` is
        ``BayesianNeuralNetwork(hidden=(10,))`` sampled by ``NUTS(max_treedepth=7)``.
    weights : {"evidence", "predictive", "stacking", "existence", "uniform"}
        ``"evidence"``: marginal likelihood of each corrected model on the training data (GP),
        on the training nuclei that every model's residual fits share (a table that stops
        short of some is otherwise scored on fewer nuclei; a ``DataCoverageWarning`` counts
        the others);
        ``"predictive"``: summed log predictive density of the validation data; ``"stacking"``:
        stacking of the validation predictive densities (Yao et al. 2018); ``"existence"``:
        Bernoulli likelihood of the observed bound status ``b_i`` of nuclei measured after
        the training data, ``w_k proportional to prod_i p_ik^b_i (1 - p_ik)^(1 - b_i)`` with
        ``p_ik = P_k(S_i > 0)`` the corrected model's existence probability (Neufcourt et al.,
        PRC 101, 044307 (2020); PRL 122, 062502 (2019)); ``"uniform"``. Predictive and
        stacking scores are computed on the nuclei that all models cover; in the existence
        likelihood a model without a nucleus of the set is scored there by the equal-weight
        average of the models that have it (the informative nuclei lie near the drip lines,
        where tables often stop).
    random_state : int, Generator or None
        Root of the residual fits' random streams: each (model, parity class) fit gets its
        own stream from ``numpy.random.SeedSequence.spawn``.

    Attributes
    ----------
    weights_ : pandas.Series
        Model weights (sum to one), indexed by model name.
    log_scores_ : pandas.Series
        The log scores behind the weights: log evidence, validation log density or the
        existence log likelihood (nats; NaN for uniform and stacking).
    effective_n_models_ : float
        ``1 / sum_k w_k^2``: 1 when one model takes all the weight, K for K equal weights.
        Below 1.5 (with two or more models) fit warns with a
        :class:`~bayesphys.bma.ConcentratedWeightsWarning`: the average is then about one
        model and carries little of the spread between models.
    corrected_ : dict of str to CorrectedModel
    interrupted_ : bool
        Ctrl-C stopped the residual fits: the models whose every fit ran are averaged (one
        may hold the draws of a sampler stopped early), the others left out, with an
        ``InterruptedRunWarning``; ``idata_`` is marked (``bayesphys.core.interrupts``).
    idata_ : InferenceData
        ``posterior`` with the weights (dim ``model``); attrs name the weighting and the
        effective number of models.
    """

    def __init__(
        self,
        models,
        observable: str = "S2n",
        residual_model="gp",
        weights: str = "evidence",
        random_state=None,
    ):
        self.models = models
        self.observable = observable
        self.residual_model = residual_model
        self.weights = weights
        self.random_state = random_state

    def _theories(self) -> dict[str, pd.DataFrame]:
        if isinstance(self.models, Mapping):
            tables = dict(self.models)
            names = list(tables)
        elif isinstance(self.models, Sequence) and not isinstance(self.models, str):
            names = list(self.models)
            for i, name in enumerate(names):
                if not isinstance(name, str):
                    raise TypeError(
                        f"models[{i}] must be a model name (str), got {name!r}; available "
                        f"models: {', '.join(available_models())}"
                    )
            tables = None
        else:
            raise TypeError(
                "models must be a list of model names or a {name: table} mapping, got "
                f"{type(self.models).__name__}"
            )
        if len(names) < 1:
            raise ValueError("models is empty: pass at least one mass model")
        for name in names:
            if not isinstance(name, str):
                raise TypeError(f"models: the keys must be model names (str), got {name!r}")
        # Names become column names of predict's output: two equal ones would collide.
        upper = [name.strip().upper() for name in names]
        repeated = sorted({n for n, u in zip(names, upper, strict=True) if upper.count(u) > 1})
        if repeated:
            raise ValueError(f"models names a model more than once: {repeated}")
        if "bma" in names:
            # predict's bma_mean and bma_std would overwrite that model's own columns.
            raise ValueError("models: the name 'bma' is taken by the average; rename that model")
        if tables is None:
            tables = {name: load_model(name, warn=False) for name in names}
        return {
            k: observable_table(v, self.observable, f"models[{k!r}]", stacklevel=3)
            for k, v in tables.items()
        }

    def fit(
        self,
        train_table: pd.DataFrame,
        validation_table: pd.DataFrame | None = None,
        *,
        existence_table: pd.DataFrame | None = None,
        client=None,
    ) -> MassModelAveraging:
        """Fit the residual models on ``train_table`` and compute the model weights.

        Parameters
        ----------
        train_table : DataFrame
            Experimental masses (Z, N, mass_excess, uncertainty), e.g. ``load_ame(2003)``, or
            separation energies with the observable as a column.
        validation_table : DataFrame, optional
            Later measurements (e.g. ``new_measurements(2003, 2012)``) for ``"predictive"`` and
            ``"stacking"`` weights, and the default bound statuses of ``"existence"`` weights
            (bound where the measured observable is > 0). ``"evidence"`` and ``"uniform"``
            weights do not use it, so passing it with them is a ``ValueError`` (it would
            otherwise be ignored without a word).
        existence_table : DataFrame, optional
            Observed bound statuses for ``weights="existence"``: columns Z, N and a bool
            column ``bound`` (e.g. from :func:`bayesphys.data.masses.existence_outcomes`).
            A ``ValueError`` with any other weights.
        client : dask.distributed.Client, optional
            Run the residual fits (one task per model and parity class) and the validation
            predictions on this Dask cluster; ``None`` runs them here. The results are the
            same either way.

        Returns
        -------
        self
        """
        _check_option(self.observable, "observable", OBSERVABLES)
        _check_option(self.weights, "weights", WEIGHT_KINDS)
        estimator = resolve_residual_model(self.residual_model)
        _check_weight_inputs(self.weights, validation_table, existence_table)
        if hasattr(estimator, "_resolve_method"):
            estimator._resolve_method()  # a bad method fails here, before any fit
        if self.weights == "evidence" and not _has_evidence(estimator):
            # Fail before any fit: only GP residual models have a marginal likelihood.
            raise ValueError(
                "weights='evidence' needs residual models with a marginal likelihood "
                f"(GPRegression); with {type(estimator).__name__} residual models use "
                "weights='predictive', 'stacking', 'existence' or 'uniform'"
            )
        client = check_client(client)
        train = observable_table(train_table, self.observable, "train_table", stacklevel=2)
        # Checked before the residual fits, so that a bad table fails at once.
        checked = self._weight_data(validation_table, existence_table)
        seed = int(check_random_state(self.random_state).integers(2**31 - 1))
        corrected = fit_corrected(self._theories(), train, estimator, seed, client)
        progress = interrupted_fits(corrected)
        if progress is not None:
            # Ctrl-C: average the models whose every residual fit ran (the one stopped early
            # keeps its draws so far); the result is marked (core/interrupts.py).
            kept = {name: model for name, model in corrected.items() if not model.unfitted}
            if not kept:
                raise KeyboardInterrupt
            progress += f"; averaging {len(kept)} of {len(corrected)} models"
            warn_interrupted("MassModelAveraging.fit", progress, stacklevel=2)
            corrected = kept
        self.corrected_ = corrected
        self.interrupted_ = progress is not None
        self._interrupt_progress = progress
        self._set_weights(*checked, client=client)
        return self

    def reweighted(
        self,
        weights: str,
        validation_table: pd.DataFrame | None = None,
        *,
        existence_table: pd.DataFrame | None = None,
        client=None,
    ) -> MassModelAveraging:
        """A copy of this fitted average with other weights; the residual models are shared.

        Compares weighting schemes without refitting: ``weights`` and the tables mean what
        they mean in the constructor and :meth:`fit` (and are checked the same way).

        Returns
        -------
        MassModelAveraging
            Fitted, with ``weights`` set to the new scheme.
        """
        check_is_fitted(self)
        _check_option(weights, "weights", WEIGHT_KINDS)
        _check_weight_inputs(weights, validation_table, existence_table)
        if weights == "evidence":
            for model in self.corrected_.values():
                model.log_evidence  # noqa: B018 -- raises for residual models without one
        out = copy.copy(self)
        out.weights = weights
        checked = out._weight_data(validation_table, existence_table)
        out._set_weights(*checked, client=check_client(client))
        return out

    def _weight_data(self, validation_table, existence_table):
        """Checked observable table of the validation data and bound statuses, as needed."""
        valid = existence = None
        if self.weights in ("predictive", "stacking") or (
            self.weights == "existence" and existence_table is None
        ):
            valid = observable_table(
                validation_table, self.observable, "validation_table", stacklevel=3
            )
        if self.weights == "existence":
            if existence_table is None:
                # Nuclei measured after the training data: bound where the observable is > 0.
                existence = valid[["Z", "N"]].assign(bound=valid["value"].to_numpy() > 0)
            else:
                existence = _check_existence_table(existence_table)
        return valid, existence

    def _set_weights(self, valid, existence, *, client) -> None:
        names = list(self.corrected_)
        self._warn_in_sample(valid, existence)
        scores = np.full(len(names), np.nan)
        if self.weights == "evidence":
            scores, n_common, n_union = common_log_evidence(list(self.corrected_.values()))
            if n_common < n_union:
                warnings.warn(
                    f"train_table: {n_union - n_common} of {n_union} fitted training nuclei are "
                    "not fitted by every model; the evidence weights compare the models on the "
                    f"{n_common} they all share",
                    DataCoverageWarning,
                    stacklevel=3,
                )
            w = normalise_log_weights(scores)
        elif self.weights == "uniform":
            w = uniform_weights(len(names))
        elif self.weights == "existence":
            scores = self._existence_log_likelihood(existence, client)
            w = normalise_log_weights_allow_inf(scores)
        else:
            log_density = self._validation_log_density(valid, client)
            scores = log_density.sum(axis=0)
            w = normalise_log_weights(scores) if self.weights == "predictive" else None
            w = stacking_weights(log_density) if w is None else w
        self.weights_ = pd.Series(w, index=names, name="weight")
        self.log_scores_ = pd.Series(scores, index=names, name="log_score")
        self.effective_n_models_ = warn_if_concentrated(w, names, stacklevel=3)
        self.idata_ = results.to_inference_data(
            {"weight": w[None, None, :]},
            dims={"weight": ["model"]},
            coords={"model": names},
            attrs={
                "inference_method": self.weights,
                "model": "MassModelAveraging",
                "effective_n_models": self.effective_n_models_,
            }
            | interrupted_attrs(getattr(self, "_interrupt_progress", None)),
        )

    def _warn_in_sample(self, valid, existence) -> None:
        """Warn when the nuclei that score the models are training nuclei of a residual fit.

        Such scores are in-sample: a residual fit with little learned noise reproduces its
        training values, and a later evaluation's slightly different value of the same nucleus
        then costs it thousands of nats (AME2020 S2n of 20 <= Z <= 24 against fits on AME2003:
        log scores of -2e4 to -5e4, and the weights flip to another model).
        """
        table, name = (existence, "existence set") if existence is not None else (valid, None)
        if table is None:
            return
        name = name or "validation_table"
        fitted = [X[:, :2] for m in self.corrected_.values() for X, _, _ in m.training.values()]
        if not fitted:
            return
        seen = pd.MultiIndex.from_arrays(np.concatenate(fitted).astype(np.int64).T)
        inside = pd.MultiIndex.from_frame(table[["Z", "N"]].astype(np.int64)).isin(seen)
        if inside.any():
            warnings.warn(
                f"{name}: {int(inside.sum())} of {len(inside)} nuclei are training nuclei of "
                "the residual fits, so their scores are in-sample (a fit reproduces its training "
                "values); weigh the models on nuclei measured since the training data, e.g. "
                "bayesphys.data.masses.new_measurements",
                UserWarning,
                stacklevel=4,
            )

    def _existence_log_likelihood(self, existence: pd.DataFrame, client) -> np.ndarray:
        """Each model's Bernoulli log likelihood of the bound statuses in ``existence``."""
        models = list(self.corrected_.values())
        log_p1, log_p0 = [], []
        for mean, std, _ in predict_corrected(models, existence["Z"], existence["N"], client):
            lp1, lp0 = _log_bound_probability(mean, std)
            log_p1.append(lp1)
            log_p0.append(lp0)
        lp1, lp0 = np.column_stack(log_p1), np.column_stack(log_p0)
        missing = np.isnan(lp1)
        covered = ~missing.all(axis=1)
        if not covered.any():
            raise ValueError("no nucleus of the existence set is covered by any model")
        partial = covered & missing.any(axis=1)
        if partial.any():
            # Dropping these would drop the informative nuclei near the drip lines whenever one
            # model's table stops short of them (TCSM12/13 start at Z = 25). A model without the
            # nucleus is scored by the equal-weight average of those with it: it neither gains
            # nor loses against the others there.
            with np.errstate(divide="ignore"):
                fill1 = np.log(np.nanmean(np.exp(lp1[partial]), axis=1))
                fill0 = np.log(np.nanmean(np.exp(lp0[partial]), axis=1))
            rows = missing[partial]
            lp1[partial] = np.where(rows, fill1[:, None], lp1[partial])
            lp0[partial] = np.where(rows, fill0[:, None], lp0[partial])
        if not covered.all() or partial.any():
            parts = []
            if not covered.all():
                parts.append(f"{int((~covered).sum())} are covered by no model and left out")
            if partial.any():
                parts.append(
                    f"at {int(partial.sum())} a model without the nucleus is scored by the "
                    "equal-weight average of the models that cover it"
                )
            warnings.warn(
                f"existence set of {len(covered)} nuclei: " + "; ".join(parts),
                DataCoverageWarning,
                stacklevel=4,
            )
        bound = existence["bound"].to_numpy(bool)[covered]
        scores = existence_log_likelihood(bound, lp1[covered], lp0[covered])
        if not np.isfinite(scores).any():
            raise ValueError("every model gives probability 0 to the observed bound statuses")
        return scores

    def _validation_log_density(self, valid: pd.DataFrame, client) -> np.ndarray:
        """(n_points, n_models) log predictive densities on nuclei every model covers.

        ``valid`` is the :func:`observable_table` of the validation table.
        """
        models = list(self.corrected_.values())
        per_model = []
        for mean, std, _ in predict_corrected(models, valid["Z"], valid["N"], client):
            var = std**2 + valid["uncertainty"].to_numpy() ** 2
            per_model.append(norm.logpdf(valid["value"].to_numpy(), mean, np.sqrt(var)))
        log_density = np.column_stack(per_model)
        covered = np.isfinite(log_density).all(axis=1)
        if not covered.any():
            raise ValueError("no validation nucleus is covered by every model")
        if not covered.all():
            # Scores over different nuclei would not be comparable: keep the common ones.
            warnings.warn(
                f"validation_table: {int((~covered).sum())} of {len(covered)} nuclei are not "
                "covered by every model and are left out of the weights",
                DataCoverageWarning,
                stacklevel=4,
            )
        return log_density[covered]

    def predict(self, nuclei, client=None) -> pd.DataFrame:
        """Corrected predictions per model and their average at ``nuclei`` (Z, N columns).

        Parameters
        ----------
        nuclei : DataFrame or array_like (n, 2)
            Z and N columns, or rows of (Z, N).
        client : dask.distributed.Client, optional
            Evaluate the residual models (one task per model and parity class) on this Dask
            cluster; ``None`` evaluates them here.

        Returns
        -------
        DataFrame with Z, N, ``observable`` (the quantity at each nucleus), ``<model>_mean``,
        ``<model>_std``, ``bma_mean``, ``bma_std`` and ``n_models``. A nucleus outside a model's
        table gets NaN for that model and is averaged over the models that cover it (weights
        renormalised); nuclei no model covers get NaN and ``n_models == 0``, with a
        :class:`~bayesphys.data.masses.DataCoverageWarning` giving their count.

        Raises
        ------
        ValueError
            ``nuclei`` is empty, or Z or N are not integers >= 0 (e.g. 20.7), NaN or infinite.
        TypeError
            Z or N are not numbers (text, bool, complex).
        """
        check_is_fitted(self)
        client = check_client(client)
        Z, N = _nuclei(nuclei)
        out = pd.DataFrame({"Z": Z, "N": N})
        out["observable"] = observable_for(self.observable, N)
        means, stds = [], []
        predictions = predict_corrected(list(self.corrected_.values()), Z, N, client)
        for name, (mean, std, _) in zip(self.corrected_, predictions, strict=True):
            out[f"{name}_mean"], out[f"{name}_std"] = mean, std
            means.append(mean)
            stds.append(std)
        mu, sd = np.array(means), np.array(stds)
        w = np.where(np.isfinite(mu), self.weights_.to_numpy()[:, None], 0.0)
        total = w.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            w = w / total
            bma_mean = np.nansum(w * mu, axis=0)
            second = np.nansum(w * (sd**2 + mu**2), axis=0)
            out["bma_mean"] = np.where(total > 0, bma_mean, np.nan)
            out["bma_std"] = np.where(
                total > 0, np.sqrt(np.maximum(second - bma_mean**2, 0)), np.nan
            )
        out["n_models"] = np.isfinite(mu).sum(axis=0)
        uncovered = int((out["n_models"] == 0).sum())
        if uncovered:
            warnings.warn(
                f"nuclei: {uncovered} of {len(out)} are covered by no mass model (or no "
                "fitted parity class): their bma_mean and bma_std are NaN (n_models == 0)",
                DataCoverageWarning,
                stacklevel=2,
            )
        return out

    def existence_probability(self, nuclei, *, client=None) -> pd.DataFrame:
        """``p_ex = sum_k w_k P_k(S > 0)``: probability that each nucleus is bound.

        Returns a DataFrame with Z, N, ``p_ex`` and ``n_models`` (NaN where no model covers).
        ``client`` is passed to :meth:`predict`; ``nuclei`` is checked as there.
        """
        with warnings.catch_warnings():
            # Raised again below from here, so that it points at the caller's line.
            warnings.simplefilter("ignore", DataCoverageWarning)
            pred = self.predict(nuclei, client)
        uncovered = int((pred["n_models"] == 0).sum())
        if uncovered:
            warnings.warn(
                f"nuclei: {uncovered} of {len(pred)} are covered by no mass model (or no "
                "fitted parity class): their p_ex is NaN (n_models == 0)",
                DataCoverageWarning,
                stacklevel=2,
            )
        probs, weights = [], []
        for name, w in self.weights_.items():
            mean, std = pred[f"{name}_mean"].to_numpy(), pred[f"{name}_std"].to_numpy()
            probs.append(np.exp(_log_bound_probability(mean, std)[0]))
            weights.append(np.where(np.isfinite(mean), w, 0.0))
        p, w = np.array(probs), np.array(weights)
        total = w.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            p_ex = np.nansum(w * p, axis=0) / total
        return pred[["Z", "N", "n_models"]].assign(p_ex=np.where(total > 0, p_ex, np.nan))

    def drip_line(self, Z, levels: tuple[float, float] = (0.16, 0.84)) -> pd.DataFrame:
        """Neutron drip line of each element: the last bound N and its credible range.

        For each Z, over the N that the models cover (from the smallest covered N upwards;
        even N only when the observable is ``"S2n"``: the two-neutron drip line is the last
        even-N isotope with S2n > 0, and an odd-N nucleus with S2n > 0 can still be unbound
        to one-neutron emission), ``N_drip`` is the largest N with ``p_ex >= 0.5``; ``N_low``
        and ``N_high`` are the largest N with ``p_ex >= levels[1]`` and ``>= levels[0]`` (a 68%
        range by default);
        each is None when no covered N reaches its level.

        Parameters
        ----------
        Z : int or sequence of int
            Proton numbers (integers >= 0; 20.5 is refused, not rounded).
        levels : (float, float)
            ``0 < levels[0] <= 0.5 <= levels[1] < 1``, so that ``N_low <= N_drip <= N_high``.
        """
        check_is_fitted(self)
        if isinstance(Z, pd.DataFrame):
            raise TypeError("Z must be an int or a sequence of ints (proton numbers), not a table")
        elements = check_nucleon_numbers(Z, "Z")
        if elements.size == 0:
            raise ValueError("Z is empty: pass one or more proton numbers")
        levels = _check_levels(levels)
        queries = []
        for z in elements:
            z = int(z)
            candidates = sorted(
                set().union(
                    *(set(m.theory.loc[m.theory.Z == z, "N"]) for m in self.corrected_.values())
                )
            )
            if self.observable == "S2n":
                candidates = [n for n in candidates if n % 2 == 0]
            if not candidates:
                raise ValueError(f"Z = {z}: no model covers this element")
            queries.append(pd.DataFrame({"Z": z, "N": candidates}))
        # One prediction for every element: one batch of residual-model calls, not one per Z.
        p_all = self.existence_probability(pd.concat(queries, ignore_index=True))
        p_all = p_all[p_all["n_models"] > 0]
        rows = []
        for z in elements:
            p = p_all[p_all["Z"] == int(z)]

            def last(threshold, p=p):
                bound = p.loc[p["p_ex"] >= threshold, "N"]
                return int(bound.max()) if len(bound) else None

            rows.append(
                {
                    "Z": int(z),
                    "N_drip": last(0.5),
                    "N_low": last(levels[1]),
                    "N_high": last(levels[0]),
                }
            )
        return pd.DataFrame(rows)


def _log_bound_probability(mean, std) -> tuple[np.ndarray, np.ndarray]:
    """``log P(S > 0)`` and ``log P(S <= 0)`` for S ~ N(mean, std^2); NaN where mean is NaN."""
    mean, std = np.asarray(mean, dtype=float), np.asarray(std, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        # A zero sd (a model without noise) is a step at S = 0, not 0/0 = NaN.
        step = np.where(mean > 0, 0.0, -np.inf)
        step = np.where(np.isnan(mean), np.nan, step)
        t = mean / std
        log_bound = np.where(std > 0, norm.logcdf(t), step)
        log_unbound = np.where(std > 0, norm.logcdf(-t), np.where(step == 0.0, -np.inf, 0.0))
    log_unbound = np.where(np.isnan(log_bound), np.nan, log_unbound)
    return log_bound, log_unbound


def _check_weight_inputs(weights: str, validation_table, existence_table) -> None:
    """Refuse tables the weighting does not use, and ask for the ones it needs."""
    if weights in ("predictive", "stacking") and validation_table is None:
        raise ValueError(f"weights={weights!r} needs a validation_table of later data")
    if weights == "existence" and validation_table is None and existence_table is None:
        raise ValueError(
            "weights='existence' needs an existence_table (Z, N, bound) or a validation_table "
            "of later data (bound where its observable is > 0)"
        )
    if weights in ("evidence", "uniform") and validation_table is not None:
        # An error, not a warning: a fit that looks validated but is not would be a silently
        # wrong reading of the result; compare schemes with reweighted() instead.
        raise ValueError(
            f"weights={weights!r} does not use validation_table; drop it, or use "
            "weights='predictive', 'stacking' or 'existence' (reweighted() compares schemes)"
        )
    if weights == "existence" and validation_table is not None and existence_table is not None:
        raise ValueError(
            "weights='existence' takes its bound statuses from existence_table, or else from "
            "validation_table: pass one of them, not both"
        )
    if weights != "existence" and existence_table is not None:
        raise ValueError(
            f"existence_table is used only by weights='existence', not weights={weights!r}"
        )


def _check_existence_table(table) -> pd.DataFrame:
    """Z, N and bool ``bound`` of an existence table, checked."""
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"existence_table must be a pandas DataFrame, got {type(table).__name__}")
    missing = [c for c in ("Z", "N", "bound") if c not in table.columns]
    if missing:
        raise ValueError(
            f"existence_table lacks column(s) {missing}; it needs Z, N and a bool column bound"
        )
    if table.empty:
        raise ValueError("existence_table is empty: pass one or more nuclei with their status")
    if table["bound"].dtype != bool:
        raise TypeError(
            "existence_table: column bound must be bool (True: observed bound, False: known "
            f"unbound), got dtype {table['bound'].dtype}"
        )
    Z = check_nucleon_numbers(table["Z"], "existence_table: column Z")
    N = check_nucleon_numbers(table["N"], "existence_table: column N")
    out = pd.DataFrame({"Z": Z, "N": N, "bound": table["bound"].to_numpy()})
    if out.duplicated(["Z", "N"]).any():
        raise ValueError("existence_table has a nucleus (Z, N) more than once")
    return out


def _has_evidence(estimator) -> bool:
    from bayesphys.gp import GPRegression

    return isinstance(estimator, GPRegression)


def _nuclei(nuclei) -> tuple[np.ndarray, np.ndarray]:
    """Z and N of ``nuclei`` (a DataFrame with Z, N or an (n, 2) array) as int64 arrays."""
    if isinstance(nuclei, pd.DataFrame):
        if not {"Z", "N"} <= set(nuclei.columns):
            raise ValueError(f"nuclei needs columns Z and N; it has {list(nuclei.columns)}")
        Z, N = nuclei["Z"], nuclei["N"]
        names = ("nuclei column Z", "nuclei column N")
    else:
        if isinstance(nuclei, str | bytes):
            raise TypeError("nuclei must be a DataFrame with Z, N or an (n, 2) array of (Z, N)")
        try:
            arr = np.asarray(nuclei)
        except ValueError:  # ragged rows
            arr = np.empty(0)
        if arr.ndim != 2 or arr.shape[1] != 2:
            raise ValueError(
                "nuclei must be a DataFrame with columns Z, N or an (n, 2) array of (Z, N) "
                f"rows; got shape {arr.shape}"
            )
        Z, N = arr[:, 0], arr[:, 1]
        names = ("nuclei[:, 0] (Z)", "nuclei[:, 1] (N)")
    if len(Z) == 0:
        raise ValueError("nuclei is empty: pass one or more (Z, N)")
    return check_nucleon_numbers(Z, names[0]), check_nucleon_numbers(N, names[1])


def _check_option(value, name: str, choices) -> str:
    """``value`` if it is one of the strings ``choices``; else a ValueError naming ``name``."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {sorted(choices)}, got {value!r}")
    return value


def _check_levels(levels) -> tuple[float, float]:
    """Credible levels ``(low, high)`` with ``0 < low <= 0.5 <= high < 1``."""
    message = (
        "levels must be two probabilities (low, high) with 0 < low <= 0.5 <= high < 1, "
        f"e.g. (0.16, 0.84); got {levels!r}"
    )
    if isinstance(levels, str) or not hasattr(levels, "__len__") or len(levels) != 2:
        raise ValueError(message)
    for level in levels:
        if isinstance(level, bool) or not isinstance(level, numbers.Real):
            raise TypeError(message)
    low, high = float(levels[0]), float(levels[1])
    if not (0 < low <= 0.5 <= high < 1):
        raise ValueError(message)
    return low, high
