"""Separation energies, Q_alpha and the AME2003 -> AME2020 validation set, checked by hand."""

import numpy as np
import pandas as pd
import pytest

from bayesphys.data import masses
from bayesphys.data.masses import (
    ME_ALPHA,
    ME_HYDROGEN,
    ME_NEUTRON,
    load_ame,
    load_model,
    new_measurements,
    separation_energy,
)

# AME2020 (NUBASE2020) mass excesses and uncertainties in MeV, copied from the source file.
SN132, SN131, SN130 = (-76.5466, 0.0020), (-77.265, 0.004), (-80.1322, 0.0019)
IN131, CD130, CD128 = (-68.0244, 0.0022), (-61.118, 0.022), (-67.238, 0.006)
# Each kind for 132Sn (Z = 50, N = 82): (value, its partner nucleus) by hand.
HAND = {
    "S1n": (SN131[0] + ME_NEUTRON - SN132[0], SN131),
    "S2n": (SN130[0] + 2 * ME_NEUTRON - SN132[0], SN130),
    "S1p": (IN131[0] + ME_HYDROGEN - SN132[0], IN131),
    "S2p": (CD130[0] + 2 * ME_HYDROGEN - SN132[0], CD130),
    "Qalpha": (SN132[0] - CD128[0] - ME_ALPHA, CD128),
}


def _at(frame, z, n):
    row = frame[(frame["Z"] == z) & (frame["N"] == n)]
    assert len(row) == 1, (z, n)
    return row.iloc[0]


@pytest.mark.parametrize("kind", sorted(HAND))
def test_values_and_uncertainties_by_hand(kind):
    out = separation_energy(load_ame(2020), kind)
    assert list(out.columns) == ["Z", "N", kind, f"{kind}_uncertainty"]
    value, partner = HAND[kind]
    row = _at(out, 50, 82)
    assert row[kind] == pytest.approx(value, abs=1e-9)
    assert row[f"{kind}_uncertainty"] == pytest.approx(np.hypot(SN132[1], partner[1]), rel=1e-9)


def test_textbook_numbers():
    ame = load_ame(2020)
    assert _at(separation_energy(ame, "S2n"), 82, 126)["S2n"] == pytest.approx(14.106, abs=1e-3)
    assert _at(separation_energy(ame, "Q_alpha"), 84, 128)["Qalpha"] == pytest.approx(
        8.954, abs=1e-3
    )  # 212Po alpha decay
    s1n = separation_energy(ame, "S1n")
    assert _at(s1n, 1, 1)["S1n"] == pytest.approx(2.2246, abs=1e-4)  # deuteron binding


def test_kind_aliases_and_errors():
    table = load_model("FRDM95")
    a = separation_energy(table, "Q_alpha")
    pd.testing.assert_frame_equal(a, separation_energy(table, "qalpha"))
    assert list(separation_energy(table, "sn").columns) == ["Z", "N", "S1n"]  # no uncertainty
    for bad in ("S3n", "", None):
        with pytest.raises(ValueError, match="kind must be one of S1n, S2n"):
            separation_energy(table, bad)


def test_nan_uncertainties_propagate_as_nan():
    out = separation_energy(load_ame(2003), "S2n")
    assert out["S2n_uncertainty"].isna().all() and np.isfinite(out["S2n"]).all()


def test_only_nuclei_with_their_partner_and_sorted():
    table = pd.DataFrame(
        {"Z": [20, 20, 20, 21], "N": [28, 26, 27, 28], "mass_excess": [-44.0, -43.0, -42.0, -40.0]}
    )
    out = separation_energy(table, "S2n")
    assert out[["Z", "N"]].values.tolist() == [[20, 28]]
    assert out["S2n"].iloc[0] == pytest.approx(-43.0 + 2 * ME_NEUTRON + 44.0)
    assert separation_energy(table, "S1n")[["Z", "N"]].values.tolist() == [[20, 27], [20, 28]]


def test_bad_tables():
    with pytest.raises(TypeError, match="table must be a pandas DataFrame"):
        separation_energy(np.zeros((3, 3)), "S2n")
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['mass_excess'\]"):
        separation_energy(pd.DataFrame({"Z": [1], "N": [1], "M": [1.0]}), "S2n")
    twice = pd.DataFrame({"Z": [8, 8], "N": [8, 8], "mass_excess": [-4.7, -4.7]})
    with pytest.raises(ValueError, match="repeated"):
        separation_energy(twice, "S1n")
    half = pd.DataFrame({"Z": [8.5], "N": [8], "mass_excess": [-4.7]})
    with pytest.raises(ValueError, match="column Z must hold integers"):
        separation_energy(half, "S1n")
    missing = pd.DataFrame({"Z": [8], "N": [8], "mass_excess": [np.nan]})
    with pytest.raises(ValueError, match="mass_excess must be finite"):
        separation_energy(missing, "S1n")


def test_new_s2n_measurements_since_2003():
    fresh = new_measurements(2003, 2020, "S2n")
    assert len(fresh) == 293  # the ~300 of the mass-model validation literature
    assert fresh["Z"].between(8, 100).all()
    old = separation_energy(load_ame(2003), "S2n")
    overlap = fresh.merge(old, on=["Z", "N"])
    assert overlap.empty
    # They lie beyond the 2003 frontier: mostly neutron-rich, so S2n is smaller on average.
    assert fresh["S2n"].mean() < old[old["Z"].between(8, 100)]["S2n"].mean()
    assert len(new_measurements(2012, 2020, "S2n")) < len(fresh)


def test_new_measurements_arguments():
    with pytest.raises(ValueError, match="old must be one of"):
        new_measurements(old=1995)
    with pytest.raises(ValueError, match="old must be an earlier evaluation"):
        new_measurements(old=2020, new=2003)
    with pytest.raises(ValueError, match="z_range"):
        new_measurements(z_range=(100, 8))
    with pytest.raises(ValueError, match="kind"):
        new_measurements(kind="B")


def _keys(table):
    return set(zip(table["Z"].tolist(), table["N"].tolist(), strict=True))


def test_held_out_values_are_in_no_earlier_evaluation():
    # AME2012 dropped 14 S2n values that AME2003 and AME2020 both have (101Rb among them):
    # they are training data, not later measurements, so the AME2020 test set must skip them.
    test = _keys(new_measurements(2012, 2020, "S2n"))
    train_2003 = _keys(separation_energy(load_ame(2003), "S2n"))
    known_2012 = _keys(separation_energy(load_ame(2012), "S2n"))
    assert not test & train_2003
    assert not test & known_2012
    after = separation_energy(load_ame(2020), "S2n")
    only_2012_checked = _keys(after[after["Z"].between(8, 100)]) - known_2012
    dropped = only_2012_checked - test
    assert len(only_2012_checked) == 117 and len(test) == 103 and len(dropped) == 14
    assert dropped <= train_2003 and (37, 64) in dropped


def test_new_measurements_checks_every_earlier_table(monkeypatch):
    # Three synthetic evaluations of one chain: a mass that 2003 had, 2012 lost and 2020 has
    # again is no new measurement; one first in 2020 is.
    def table(n_values):
        n = np.array(n_values)
        return pd.DataFrame({"Z": 20, "N": n, "mass_excess": -0.5 * n.astype(float)})

    tables = {2003: table([20, 22, 24]), 2012: table([20, 22]), 2020: table([20, 22, 24, 26])}
    monkeypatch.setattr(masses, "load_ame", lambda year, **_: tables[year])
    fresh = new_measurements(2012, 2020, "S2n")
    assert fresh[["Z", "N"]].values.tolist() == [[20, 26]]
    # Only the training table counts when no earlier one is shipped.
    assert new_measurements(2003, 2020, "S2n")[["Z", "N"]].values.tolist() == [[20, 26]]
    assert new_measurements(2003, 2012, "S2n").empty
