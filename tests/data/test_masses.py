"""AME and model tables: counts, known values, the FRDM95 anchor, and the source-file defects."""

import doctest
import tomllib
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayesphys.data import masses
from bayesphys.data.masses import (
    FittedToDataWarning,
    available_models,
    binding_energy,
    load_ame,
    load_model,
)

ROOT = Path(__file__).resolve().parents[2]
# Measured ground states (incl. n and 1H) and measured + '#' ones, as curated (PROVENANCE.md).
COUNTS = {2003: (2228, 2990), 2012: (2438, 3164), 2020: (2550, 3558)}


def _mass(table, z, n):
    row = table[(table["Z"] == z) & (table["N"] == n)]
    assert len(row) == 1, (z, n)
    return row.iloc[0]


@pytest.mark.parametrize("year", sorted(COUNTS))
def test_ame_counts_columns_and_order(year):
    measured, everything = load_ame(year), load_ame(year, include_estimated=True)
    assert (len(measured), len(everything)) == COUNTS[year]
    assert list(measured.columns) == ["Z", "N", "A", "mass_excess", "uncertainty"]
    assert list(everything.columns) == [*measured.columns, "estimated"]
    assert int(everything["estimated"].sum()) == len(everything) - len(measured)
    assert (measured["A"] == measured["Z"] + measured["N"]).all()
    assert not measured.duplicated(["Z", "N"]).any()
    assert measured.equals(measured.sort_values(["Z", "N"]).reset_index(drop=True))
    assert np.isfinite(measured["mass_excess"]).all()
    assert measured.attrs["source"] == f"AME{year}"


def test_uncertainties_exist_for_2020_only():
    ame20 = load_ame(2020, include_estimated=True)
    exact = ame20["uncertainty"] == 0
    assert ame20.loc[exact, ["Z", "N"]].values.tolist() == [[6, 6]]  # 12C defines the unit
    assert (ame20["uncertainty"] >= 0).all()
    # '#' values are estimated from systematics: typically far less precise than measured ones.
    by_kind = ame20.groupby("estimated")["uncertainty"].median()
    assert by_kind[True] > 10 * by_kind[False]
    for year in (2003, 2012):
        assert load_ame(year)["uncertainty"].isna().all()


def test_known_mass_excesses():
    pb208_03, pb208_20 = _mass(load_ame(2003), 82, 126), _mass(load_ame(2020), 82, 126)
    assert pb208_03.mass_excess == pytest.approx(-21.749, abs=1.5e-3)
    assert pb208_20.mass_excess == pytest.approx(-21.7485, abs=1e-9)
    assert pb208_20.uncertainty == pytest.approx(0.0011)
    ame20 = load_ame(2020)
    assert _mass(ame20, 2, 2).mass_excess == masses.ME_ALPHA == 2.42491587
    assert _mass(ame20, 0, 1).mass_excess == masses.ME_NEUTRON
    assert _mass(ame20, 1, 0).mass_excess == masses.ME_HYDROGEN
    # AME2003's 4He and neutron agree with AME2020 to below 1 eV.
    assert _mass(load_ame(2003), 2, 2).mass_excess == pytest.approx(2.42491565, abs=1e-9)
    assert _mass(load_ame(2003), 0, 1).mass_excess == pytest.approx(8.0713171, abs=1e-9)


def test_estimated_values_of_2003_stop_at_z_100():
    # The masstable 'all' file is corrupt from Z = 101 on: no estimated values are kept there.
    ame03 = load_ame(2003, include_estimated=True)
    assert ame03.loc[ame03["estimated"], "Z"].max() == 100
    assert ame03["Z"].max() == 108  # measured superheavies come from the experimental file


def test_binding_energies():
    b = binding_energy(load_ame(2020))
    assert _mass(b, 82, 126).binding_energy == pytest.approx(1636.430, abs=1e-3)
    per_nucleon = b["binding_energy"] / b["A"]
    assert tuple(b.loc[per_nucleon.idxmax(), ["Z", "N"]]) == (28, 34)  # 62Ni, not 56Fe


def test_frdm95_anchor_rms_against_ame2003():
    joined = load_model("FRDM95").merge(load_ame(2003), on=["Z", "N"], suffixes=("", "_exp"))
    joined = joined[(joined["Z"] >= 8) & (joined["N"] >= 8)]
    rms = np.sqrt(np.mean((joined["mass_excess"] - joined["mass_excess_exp"]) ** 2))
    assert len(joined) == 2149
    assert rms == pytest.approx(0.656, abs=0.005)


def test_available_models_load_cleanly():
    assert available_models() == [
        "FRDM95", "HFB14", "HFB26", "KTUY05", "DUZU", "ETFSI12", "WS32010", "WS32011",
        "BR2013", "SVM13", "TCSM12", "TCSM13", "MAJA88",
    ]  # fmt: skip
    ame20 = load_ame(2020)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FittedToDataWarning)
        for name in available_models():
            table = load_model(name)
            assert list(table.columns) == ["Z", "N", "A", "mass_excess"], name
            assert len(table) > 4000 and np.isfinite(table["mass_excess"]).all(), name
            assert not table.duplicated(["Z", "N"]).any(), name
            # No corrupt stretch left: every Z row of every model within 4 MeV rms of AME2020
            # (the cut HFB14/KTUY05/ETFSI12 rows were 8-11 MeV off).
            joined = table.merge(ame20, on=["Z", "N"], suffixes=("", "_exp"))
            joined = joined[(joined["Z"] >= 8) & (joined["N"] >= 8)]
            sq = (joined["mass_excess"] - joined["mass_excess_exp"]) ** 2
            assert np.sqrt(sq.groupby(joined["Z"]).mean()).max() < 4.0, name


@pytest.mark.parametrize("name", ["HFB14", "KTUY05", "ETFSI12"])
def test_corrupt_superheavy_rows_are_cut(name):
    assert load_model(name)["Z"].max() == 100
    assert masses.MODEL_INFO[name].z_max == 100


def test_fitted_models_are_flagged():
    flagged = {n for n, info in masses.MODEL_INFO.items() if info.fitted_to_data}
    assert flagged == {"WS32010", "WS32011", "BR2013", "SVM13"}
    with pytest.warns(FittedToDataWarning, match="WS32011"):
        table = load_model("ws32011")  # case-insensitive
    assert table.attrs["fitted_to_data"] is True
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_model("BR2013", warn=False).attrs["fitted_to_data"] is True
        assert load_model("FRDM95").attrs["fitted_to_data"] is False


def test_gk88_and_unknown_names_are_refused():
    with pytest.raises(ValueError, match=r"GK88.*broken.*FRDM95, HFB14"):
        load_model("GK88")
    with pytest.raises(ValueError, match=r"name='FRDM12'.*available models: FRDM95"):
        load_model("FRDM12")
    with pytest.raises(TypeError, match="name"):
        load_model(95)


def test_bad_year_and_flag():
    for year in (2016, "2020", True):
        with pytest.raises(ValueError, match="year must be one of"):
            load_ame(year)
    with pytest.raises(TypeError, match="include_estimated"):
        load_ame(2020, include_estimated="yes")


def test_tables_are_copies():
    table = load_ame(2020)
    table.loc[:, "mass_excess"] = 0.0
    assert load_ame(2020)["mass_excess"].abs().sum() > 0


def test_wheel_ships_every_data_file():
    # Non-editable installs only get what [tool.setuptools.package-data] names.
    with open(ROOT / "pyproject.toml", "rb") as fh:
        patterns = tomllib.load(fh)["tool"]["setuptools"]["package-data"]["bayesphys.data"]
    package = ROOT / "bayesphys" / "data"
    shipped = {p for pattern in patterns for p in package.glob(pattern)}
    on_disk = {p for p in (package / "masses").rglob("*") if p.is_file() and p.suffix != ".pyc"}
    assert on_disk and on_disk <= shipped
    assert sum(p.stat().st_size for p in on_disk) < 2_000_000
    assert isinstance(pd.read_csv(package / "masses" / "models" / "HFB26.csv.gz"), pd.DataFrame)


def test_module_docstring_example_runs():
    result = doctest.testmod(masses, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
