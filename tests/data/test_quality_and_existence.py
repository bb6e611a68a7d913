"""The models' data-quality check, the existence outcomes and the known drip-line nuclei."""

import numpy as np
import pytest

from bayesphys.data.masses import (
    available_models,
    existence_outcomes,
    heaviest_bound_isotopes,
    load_ame,
    load_model,
    model_quality,
    new_measurements,
    separation_energy,
)


@pytest.fixture(scope="module")
def quality():
    return model_quality("S2n")


def test_only_the_table_fitted_to_the_validation_data_fails(quality):
    assert list(quality.index) == available_models()
    assert list(quality.index[~quality["passes"]]) == ["BR2013"]
    assert "fitted to AME2012" in quality.loc["BR2013", "reason"]
    assert (quality.loc[quality["passes"], "reason"] == "").all()
    assert quality.loc["BR2013", "ratio"] > 3.5  # 0.79 / 0.20 MeV
    assert quality.drop(index="BR2013")["ratio"].between(0.9, 1.7).all()


def test_quality_rms_is_recomputed_from_the_tables(quality):
    # FRDM95 against the S2n values new in AME2020 since AME2012, by hand.
    later = new_measurements(2012, 2020, "S2n")
    theory = separation_energy(load_model("FRDM95"), "S2n")
    joined = later.merge(theory, on=["Z", "N"], suffixes=("", "_model"))
    rms = float(np.sqrt(np.mean((joined["S2n"] - joined["S2n_model"]) ** 2)))
    assert quality.loc["FRDM95", "rms_2020"] == pytest.approx(rms, rel=1e-12)
    assert quality.loc["FRDM95", "n_2020"] == len(joined)
    assert quality.loc["TCSM12", "z_min"] == 25


def test_existence_outcomes_are_the_sign_of_the_new_values():
    status = existence_outcomes(2003, 2012, "S2n")
    fresh = new_measurements(2003, 2012, "S2n")
    assert len(status) == len(fresh) == 203
    np.testing.assert_array_equal(status["bound"], fresh["S2n"] > 0)
    # 26O is the one unbound nucleus (S2n = -0.09 MeV in AME2012).
    assert status.loc[~status["bound"], ["Z", "N"]].values.tolist() == [[8, 18]]
    with pytest.raises(ValueError, match="old must be an earlier evaluation"):
        existence_outcomes(2020, 2012)


def test_heaviest_bound_isotopes():
    known = heaviest_bound_isotopes().set_index("nucleus")
    assert known.loc["24O", ["Z", "N"]].tolist() == [8, 16]
    assert known.loc["39Na", ["Z", "N"]].tolist() == [11, 28]
    assert known["established"].tolist() == [True, False, False, False]
    assert (known["A"] == known["Z"] + known["N"]).all()
    # 24O is measured; 26O is measured unbound to two-neutron emission in AME2020.
    s2n = separation_energy(load_ame(2020), "S2n").set_index(["Z", "N"])["S2n"]
    assert s2n[(8, 16)] > 0 and s2n[(8, 18)] < 0
