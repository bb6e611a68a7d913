"""A table of the observable may name its uncertainties ``uncertainty`` (docs/bma.md, "Checked
input"); before, that column was silently ignored (the values counted as exactly known, and a
negative one passed)."""

import pandas as pd
import pytest

from bayesphys.bma import MassModelAveraging
from bayesphys.data.masses import load_ame, new_measurements

REGION = (20, 22)


@pytest.fixture(scope="module")
def fitted():
    train = load_ame(2003).query(f"{REGION[0]} <= Z <= {REGION[1]}")
    return MassModelAveraging(["FRDM95", "DUZU"], weights="uniform", random_state=0).fit(train)


@pytest.fixture(scope="module")
def valid():
    return new_measurements(2003, 2020, "S2n", z_range=REGION)


def test_plain_uncertainty_column_is_used(fitted, valid):
    named = fitted.reweighted("predictive", valid).log_scores_
    plain = valid.rename(columns={"S2n_uncertainty": "uncertainty"})
    pd.testing.assert_series_equal(fitted.reweighted("predictive", plain).log_scores_, named)
    dropped = fitted.reweighted("predictive", valid.drop(columns="S2n_uncertainty")).log_scores_
    assert (abs(dropped - named) > 1e-3).any()  # the uncertainties matter here


def test_plain_uncertainty_column_is_checked(fitted, valid):
    bad = valid.rename(columns={"S2n_uncertainty": "uncertainty"}).assign(uncertainty=-0.1)
    with pytest.raises(ValueError, match=r"validation_table: column uncertainty has .* negative"):
        fitted.reweighted("predictive", bad)


def test_plain_uncertainty_next_to_masses_is_ambiguous(fitted, valid):
    both = valid.rename(columns={"S2n_uncertainty": "uncertainty"}).assign(mass_excess=-40.0)
    with pytest.raises(ValueError, match=r"uncertainty is ambiguous.*S2n_uncertainty"):
        fitted.reweighted("predictive", both)
