"""Timings of the nuclear-mass model-averaging pipeline (issue target: MAP < 2 min, NUTS < 15).

Stages: load AME2003 / the new AME2020 S2n values / the models, fit the residual GPs (four
parity classes per model), predict the test set, and compute p_ex over the chart. Prints one
row per hyperparameter mode with the test rms of the average, so a faster run that got worse
shows up. Run ``python benchmarks/bma.py`` (``--nuts`` adds the fully Bayesian run,
``--quick`` uses two models on Z <= 40).
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import numpy as np
import pandas as pd
import torch

from bayesphys.bma import MassModelAveraging
from bayesphys.data.masses import load_ame, load_model, new_measurements

MODELS = ["FRDM95", "HFB14", "HFB26", "KTUY05", "DUZU"]


def pipeline(models, z_max: int, hyperparameters: str, fit_options: dict) -> dict:
    times = {}
    start = time.perf_counter()
    train = load_ame(2003).query(f"8 <= Z <= {z_max}")
    test = new_measurements(2003, 2020, "S2n", z_range=(8, z_max))
    for name in models:
        load_model(name, warn=False)
    times["load"] = time.perf_counter() - start
    start = time.perf_counter()
    bma = MassModelAveraging(
        models, hyperparameters=hyperparameters, weights="predictive", fit_options=fit_options
    ).fit(train, test, random_seed=0)
    times["fit"] = time.perf_counter() - start
    start = time.perf_counter()
    pred = bma.predict(test)
    chart = pd.concat([m.theory[["Z", "N"]] for m in bma.corrected_.values()]).drop_duplicates()
    bma.existence_probability(chart.query(f"Z <= {z_max}"))
    times["predict"] = time.perf_counter() - start
    times["total"] = sum(times.values())
    times["bma_rms"] = float(np.sqrt(np.nanmean((test["S2n"] - pred["bma_mean"]) ** 2)))
    times["n_train"] = len(train)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nuts", action="store_true", help="also time NUTS hyperparameters")
    parser.add_argument("--quick", action="store_true", help="two models, Z <= 40")
    args = parser.parse_args()
    models, z_max = (MODELS[:1] + MODELS[-1:], 40) if args.quick else (MODELS, 100)
    print(f"cores: {os.cpu_count()}, torch threads: {torch.get_num_threads()}, models: {models}")
    rows = {"map": pipeline(models, z_max, "map", {})}
    if args.nuts:
        nuts = {"draws": 300, "tune": 300, "chains": 2}
        rows["nuts"] = pipeline(models, z_max, "nuts", nuts)
    table = pd.DataFrame(rows).T
    print(table.to_string(float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    warnings.filterwarnings("ignore", category=UserWarning)
    main()
