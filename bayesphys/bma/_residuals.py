"""One mass model corrected by residual models fitted per parity class of (Z, N)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bayesphys.data.masses import separation_energy

# Even/odd Z and N nuclei have different pairing contributions, so their residuals are
# correlated within, not across, these classes.
PARITY_CLASSES = ("ee", "eo", "oe", "oo")


def parity_class(Z, N) -> np.ndarray:
    """``"ee"``, ``"eo"``, ``"oe"`` or ``"oo"`` (Z parity first) for each nucleus."""
    z = np.asarray(Z, dtype=int) % 2
    n = np.asarray(N, dtype=int) % 2
    return np.array(PARITY_CLASSES)[2 * z + n]


def observable_for(observable: str, N) -> np.ndarray:
    """The observable used at each nucleus: ``"auto"`` is S2n at even N and S1n at odd N."""
    n = np.asarray(N, dtype=int)
    if observable == "auto":
        return np.where(n % 2 == 0, "S2n", "S1n")
    return np.full(n.shape, observable)


def observable_table(table: pd.DataFrame, observable: str, name: str) -> pd.DataFrame:
    """Columns Z, N, ``value``, ``uncertainty`` (0 where unknown) of the observable.

    ``table`` is a mass table (``mass_excess``; the observable is derived) or already holds the
    observable as a column (e.g. from :func:`bayesphys.data.masses.new_measurements`).
    """
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"{name} must be a pandas DataFrame, got {type(table).__name__}")
    kinds = ("S2n", "S1n") if observable == "auto" else (observable,)
    parts = []
    for kind in kinds:
        if kind in table.columns:
            frame = table
        elif "mass_excess" in table.columns:
            frame = separation_energy(table, kind)
        else:
            raise ValueError(
                f"{name} needs a mass_excess column or a {kind} column; it has {list(table)}"
            )
        unc = frame.get(f"{kind}_uncertainty", pd.Series(0.0, index=frame.index))
        part = pd.DataFrame(
            {
                "Z": frame["Z"].to_numpy(int),
                "N": frame["N"].to_numpy(int),
                "value": frame[kind].to_numpy(float),
                "uncertainty": np.nan_to_num(unc.to_numpy(float)),
            }
        )
        parts.append(part[observable_for(observable, part["N"]) == kind])
    out = pd.concat(parts, ignore_index=True).sort_values(["Z", "N"]).reset_index(drop=True)
    if out.empty:
        raise ValueError(f"{name} gives no {observable} values")
    return out


@dataclass
class CorrectedModel:
    """A mass model plus one residual model per parity class (``experiment - model``)."""

    name: str
    theory: pd.DataFrame  # observable_table of the model
    make_residual_model: Callable[[], object]
    fit_options: dict
    residual_models: dict = field(default_factory=dict)
    residual_rms: float = float("nan")

    def fit(self, train: pd.DataFrame, seed: int) -> CorrectedModel:
        data = train.merge(self.theory, on=["Z", "N"], suffixes=("", "_model"))
        if len(data) < 8:
            raise ValueError(f"model {self.name} covers only {len(data)} training nuclei")
        residual = data["value"] - data["value_model"]
        self.residual_rms = float(np.sqrt(np.mean(residual**2)))
        classes = parity_class(data["Z"], data["N"])
        for i, cls in enumerate(PARITY_CLASSES):
            rows = classes == cls
            if rows.sum() < 3:
                continue  # e.g. odd-N classes under a pure S2n protocol restricted by the user
            X = data.loc[rows, ["Z", "N"]].to_numpy(float)
            err = data.loc[rows, "uncertainty"].to_numpy(float)
            y_err = np.where(err > 0, err, np.nan)
            # Known errors only where every point has one; else the learned noise carries all.
            y_err = None if np.isnan(y_err).any() else y_err
            model = self.make_residual_model()
            model.fit(
                X, residual[rows].to_numpy(), y_err=y_err, random_seed=seed + i, **self.fit_options
            )
            self.residual_models[cls] = model
        return self

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

    def predict(self, Z, N) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Corrected observable mean and std at (Z, N), and the bare model's value.

        Nuclei the model's table does not cover get NaN in all three. The std includes the
        residual model's learned noise: the scatter of the model about the truth.
        """
        Z, N = np.asarray(Z, dtype=int), np.asarray(N, dtype=int)
        query = pd.DataFrame({"Z": Z, "N": N})
        bare = query.merge(self.theory, on=["Z", "N"], how="left")["value"].to_numpy()
        mean = np.full(len(Z), np.nan)
        std = np.full(len(Z), np.nan)
        classes = parity_class(Z, N)
        for cls, model in self.residual_models.items():
            rows = (classes == cls) & np.isfinite(bare)
            if rows.any():
                X = np.column_stack([Z[rows], N[rows]]).astype(float)
                mu, sd = model.predict(X, return_std=True, include_noise=True)
                mean[rows] = bare[rows] + mu
                std[rows] = sd
        return mean, std, bare
