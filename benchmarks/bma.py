"""Timings of the nuclear-mass model-averaging pipeline (issue target: MAP < 2 min, NUTS < 15).

Stages: load AME2003 / the new AME2020 S2n values / the models, fit the residual GPs (four
parity classes per model), predict the test set, and compute p_ex over the chart. Prints one
row per hyperparameter mode with the test rms of the average, so a faster run that got worse
shows up, and for NUTS the convergence of the residual GPs' hyperparameters (smallest bulk ESS,
largest R-hat, mean leapfrog steps per draw, divergences). Run ``python benchmarks/bma.py``
(``--nuts`` adds the fully Bayesian run with ``MassModelAveraging``'s NUTS defaults, which
``--draws``, ``--tune`` and ``--chains`` override; ``--quick`` uses two models on Z <= 40).
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import numpy as np
import pandas as pd
import torch

from bayesphys import results
from bayesphys.bma import MassModelAveraging, residual_gp
from bayesphys.data.masses import load_ame, load_model, new_measurements

MODELS = ["FRDM95", "HFB14", "HFB26", "KTUY05", "DUZU"]


def _residual_model(residual_method: str, nuts_settings: dict):
    """The study's residual GP, with NUTS settings from the command line on top."""
    model = residual_gp(residual_method)
    return model.set_params(**{f"method__{k}": v for k, v in nuts_settings.items()})


def pipeline(models, z_max: int, residual_method: str, nuts_settings: dict) -> dict:
    times = {}
    start = time.perf_counter()
    train = load_ame(2003).query(f"8 <= Z <= {z_max}")
    test = new_measurements(2003, 2020, "S2n", z_range=(8, z_max))
    for name in models:
        load_model(name, warn=False)
    times["load"] = time.perf_counter() - start
    start = time.perf_counter()
    bma = MassModelAveraging(
        models,
        residual_model=_residual_model(residual_method, nuts_settings),
        weights="predictive",
        random_state=0,
    ).fit(train, test)
    times["fit"] = time.perf_counter() - start
    start = time.perf_counter()
    pred = bma.predict(test)
    chart = pd.concat([m.theory[["Z", "N"]] for m in bma.corrected_.values()]).drop_duplicates()
    bma.existence_probability(chart.query(f"Z <= {z_max}"))
    times["predict"] = time.perf_counter() - start
    times["total"] = sum(times.values())
    times["bma_rms"] = float(np.sqrt(np.nanmean((test["S2n"] - pred["bma_mean"]) ** 2)))
    times["n_train"] = len(train)
    if residual_method == "nuts":
        times.update(convergence(bma))
    return times


def convergence(bma: MassModelAveraging) -> dict:
    """Worst ESS and R-hat over every hyperparameter of every residual GP, and NUTS effort."""
    fits = [gp for m in bma.corrected_.values() for gp in m.residual_models.values()]
    ess = [results.ess(gp.idata_).to_array().values.min() for gp in fits]
    rhat = [results.rhat(gp.idata_).to_array().values.max() for gp in fits]
    stats = [gp.idata_.sample_stats for gp in fits]
    return {
        "min_ess": float(np.min(ess)),
        "median_min_ess": float(np.median(ess)),
        "max_rhat": float(np.max(rhat)),
        "steps_per_draw": float(np.mean([s["n_steps"].values.mean() for s in stats])),
        "divergences": int(sum(s["diverging"].values.sum() for s in stats)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nuts", action="store_true", help="also time NUTS hyperparameters")
    parser.add_argument("--quick", action="store_true", help="two models, Z <= 40")
    for name in ("draws", "tune", "chains"):
        parser.add_argument(f"--{name}", type=int, help=f"NUTS {name} per residual GP")
    args = parser.parse_args()
    models, z_max = (MODELS[:1] + MODELS[-1:], 40) if args.quick else (MODELS, 100)
    print(f"cores: {os.cpu_count()}, torch threads: {torch.get_num_threads()}, models: {models}")
    rows = {"map": pipeline(models, z_max, "map", {})}
    if args.nuts:
        nuts = {k: getattr(args, k) for k in ("draws", "tune", "chains") if getattr(args, k)}
        print(f"NUTS options: {_residual_model('nuts', nuts).method!r}", flush=True)
        rows["nuts"] = pipeline(models, z_max, "nuts", nuts)
    table = pd.DataFrame(rows).T
    print(table.to_string(float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    warnings.filterwarnings("ignore", category=UserWarning)
    main()
