"""A nucleus given twice in a table of separation energies is refused, as in a mass table.

Before, ``fit`` took a validation table with a repeated (Z, N) and counted the nucleus twice in
the predictive and stacking scores (and a repeated training value twice in a residual fit);
mass tables were already refused with repeats (``check_table``).
"""

import pandas as pd
import pytest

from bayesphys.bma import MassModelAveraging
from bayesphys.data.masses import load_ame, new_measurements

REGION = (20, 22)


@pytest.fixture(scope="module")
def data():
    train = load_ame(2003).query(f"{REGION[0]} <= Z <= {REGION[1]}")
    return train, new_measurements(2003, 2020, "S2n", z_range=REGION)


def test_repeated_validation_nucleus_is_refused(data):
    train, valid = data
    twice = pd.concat([valid, valid.iloc[[0]]], ignore_index=True)
    bma = MassModelAveraging(["FRDM95", "DUZU"], weights="predictive", random_state=0)
    with pytest.raises(ValueError, match=r"validation_table has 1 repeated \(Z, N\) row"):
        bma.fit(train, twice)


def test_repeated_training_value_is_refused():
    s2n = new_measurements(2003, 2020, "S2n", z_range=(8, 100)).iloc[:0]  # the columns
    values = pd.concat([s2n, pd.DataFrame({"Z": [20, 20], "N": [20, 20], "S2n": [19.0, 19.1]})])
    bma = MassModelAveraging(["FRDM95"], weights="uniform", random_state=0)
    with pytest.raises(ValueError, match=r"train_table has 1 repeated .* Z=20, N=20"):
        bma.fit(values)


def test_a_model_named_bma_is_refused(data):
    # predict's columns bma_mean and bma_std would have overwritten that model's own.
    train, _ = data
    tables = {"bma": train, "other": train.assign(mass_excess=train["mass_excess"] + 0.1)}
    with pytest.raises(ValueError, match="the name 'bma' is taken"):
        MassModelAveraging(tables, weights="uniform").fit(train)
