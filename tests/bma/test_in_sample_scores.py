"""Weights scored on training nuclei are in-sample, and fit says so.

A residual fit with little learned noise reproduces its training values, so a later
evaluation's value of a training nucleus scores it in the thousands of nats: predictive weights
on AME2020 S2n of 20 <= Z <= 24 (74 of 94 nuclei in the AME2003 training data) gave log scores
of -2e4 to -5e4 and moved the weight from HFB26 (0.996 on the 20 new nuclei) to FRDM95 (1.000),
without a word.
"""

import warnings

import pytest

from bayesphys.bma import MassModelAveraging
from bayesphys.data.masses import load_ame, new_measurements, separation_energy

REGION = (20, 22)
MATCH = "nuclei are training nuclei of the residual fits"


@pytest.fixture(scope="module")
def fitted():
    train = load_ame(2003).query(f"{REGION[0]} <= Z <= {REGION[1]}")
    return MassModelAveraging(["FRDM95", "DUZU"], weights="uniform", random_state=0).fit(train)


def _later(everything: bool):
    if everything:
        table = separation_energy(load_ame(2020), "S2n")
        return table[table["Z"].between(*REGION)].reset_index(drop=True)
    return new_measurements(2003, 2020, "S2n", z_range=REGION)


@pytest.mark.parametrize("weights", ["predictive", "stacking", "existence"])
def test_scores_on_training_nuclei_warn(fitted, weights):
    everything = _later(everything=True)
    n_new = len(_later(everything=False))
    counted = rf"{len(everything) - n_new} of {len(everything)} {MATCH}"
    with pytest.warns(UserWarning, match=counted):
        fitted.reweighted(weights, everything)


def test_existence_table_on_training_nuclei_warns(fitted):
    status = _later(everything=True).assign(bound=lambda t: t["S2n"] > 0)[["Z", "N", "bound"]]
    with pytest.warns(UserWarning, match=f"existence set: .*{MATCH}") as caught:
        fitted.reweighted("existence", existence_table=status)
    assert {w.filename for w in caught if MATCH in str(w.message)} == {__file__}


def test_held_out_nuclei_do_not_warn(fitted):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fitted.reweighted("predictive", _later(everything=False))
    assert not [w for w in caught if MATCH in str(w.message)]
