"""Bad input to the mass-table loaders and helpers: a clear error naming the argument, never a
silently wrong table, an internal file path or a raw pandas/numpy traceback (issue 15, item 6)."""

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bayesphys.data import masses
from bayesphys.data.masses import (
    binding_energy,
    load_ame,
    load_model,
    load_model_table,
    new_measurements,
    separation_energy,
)

FAST = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


def _leaks_path(message: str) -> bool:
    """Whether an error message shows where the package keeps its data files."""
    return str(masses.DATA_DIR.parent) in message or ".csv.gz" in message or "masses/" in message


def _small_table(**changes):
    table = load_ame(2020).query("Z <= 4").reset_index(drop=True)
    for col, (row, value) in changes.items():
        table[col] = table[col].astype(object if isinstance(value, str) else float)
        table.loc[row, col] = value
    return table


# --- reproductions: each of these passed silently (or leaked a path) before ------------------


@pytest.mark.parametrize("year", [2020.0, np.float64(2003), 2012.5])
def test_float_year_names_year_not_a_file(year):
    with pytest.raises(ValueError, match=r"year must be one of \(2003, 2012, 2020\)") as err:
        load_ame(year)
    assert not _leaks_path(str(err.value)), str(err.value)


def test_numpy_integer_year_is_fine():
    assert len(load_ame(np.int64(2020))) == len(load_ame(2020))


@pytest.mark.parametrize(("old", "new", "name"), [(2003.0, 2020, "old"), (2003, 2020.0, "new")])
def test_new_measurements_float_years(old, new, name):
    with pytest.raises(ValueError, match=rf"{name} must be one of \(2003") as err:
        new_measurements(old, new)
    assert not _leaks_path(str(err.value))


@pytest.mark.parametrize("z_range", [(8.5, 20), 20, (8, 20, 30), (-1, 20), (20, 8), "8-20"])
def test_new_measurements_z_range(z_range):
    with pytest.raises(ValueError, match="z_range must be"):
        new_measurements(z_range=z_range)


def test_load_model_flags_and_names():
    with pytest.raises(TypeError, match="warn must be True or False"):
        load_model("FRDM95", warn="no")
    with pytest.raises(TypeError, match=r"name must be a model name.*available models"):
        load_model(None)


def test_broken_installation_names_no_internal_path(monkeypatch, tmp_path):
    masses._read.cache_clear()
    monkeypatch.setattr(masses, "DATA_DIR", tmp_path / "gone")
    try:
        with pytest.raises(FileNotFoundError, match="reinstall bayesphys") as err:
            load_ame(2012)
        assert str(tmp_path) not in str(err.value)
    finally:
        masses._read.cache_clear()


@pytest.mark.parametrize("helper", [separation_energy, binding_energy])
def test_negative_or_infinite_uncertainty_is_refused(helper):
    args = ("S2n",) if helper is separation_energy else ()
    for value, what in ((-0.5, "negative"), (np.inf, "infinite")):
        with pytest.raises(ValueError, match=rf"table: column uncertainty has 1 {what}"):
            helper(_small_table(uncertainty=(3, value)), *args)


def test_nan_uncertainty_means_unknown():
    s2n = separation_energy(_small_table(uncertainty=(3, np.nan)), "S1n")
    assert np.isfinite(s2n["S1n"]).all()  # the values stand; only their uncertainty is NaN
    assert s2n["S1n_uncertainty"].isna().sum() == 2  # nucleus 3 and its S1n partner


@pytest.mark.parametrize(
    ("col", "value", "error", "match"),
    [
        ("Z", 2.5, ValueError, r"table: column Z must hold integers >= 0 .*got 2.5"),
        ("N", -1, ValueError, "table: column N must hold integers >= 0"),
        ("N", np.inf, ValueError, "column N must hold integers >= 0; it has 1 NaN or infinite"),
        ("Z", "two", TypeError, "table: column Z must hold integers"),
    ],
)
def test_bad_nucleon_numbers_in_a_table(col, value, error, match):
    with pytest.raises(error, match=match):
        separation_energy(_small_table(**{col: (0, value)}), "S2n")


def test_bool_and_complex_columns_are_refused():
    table = _small_table()
    with pytest.raises(TypeError, match="column Z must hold integers"):
        binding_energy(table.assign(Z=table["Z"] > 1))
    with pytest.raises(TypeError, match="column mass_excess must hold real numbers"):
        binding_energy(table.assign(mass_excess=table["mass_excess"] + 1j))


def _write(tmp_path, text, name="table.dat"):
    path = tmp_path / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def test_user_table_uncertainties_and_encoding(tmp_path):
    with pytest.raises(ValueError, match=r"path=.*: column uncertainty has 1 negative"):
        load_model_table(_write(tmp_path, "Z N ME err\n8 8 -4.7 -0.1\n8 9 -0.8 0.1\n"))
    with pytest.raises(ValueError, match=r"path=.*: column uncertainty has 1 infinite"):
        load_model_table(_write(tmp_path, "Z N ME err\n8 8 -4.7 inf\n"))
    with pytest.raises(ValueError, match=r"path=.*not a UTF-8 text table"):
        load_model_table(_write(tmp_path, b"Z N ME\n8 8 \xff\xfe\n"))
    with pytest.raises(TypeError, match="name must be a str"):
        load_model_table(_write(tmp_path, "8 8 -4.7\n"), name=3)


# --- properties -----------------------------------------------------------------------------

ANY_SCALAR = st.one_of(
    st.integers(-10, 10_000),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.text(max_size=5),
    st.none(),
    st.complex_numbers(max_magnitude=1e4),
)


def _names(exc: Exception, *arguments: str) -> bool:
    return any(arg in str(exc) for arg in arguments)


@FAST
@given(year=ANY_SCALAR)
def test_load_ame_any_year(year):
    try:
        table = load_ame(year)
    except (ValueError, TypeError) as exc:
        assert _names(exc, "year"), exc
        assert not _leaks_path(str(exc)), exc
        assert "2003, 2012, 2020" in str(exc)
    else:
        assert year in (2003, 2012, 2020) and not isinstance(year, bool | float)
        assert np.isfinite(table["mass_excess"]).all()


@FAST
@given(old=ANY_SCALAR, z_range=st.one_of(ANY_SCALAR, st.tuples(ANY_SCALAR, ANY_SCALAR)))
def test_new_measurements_any_arguments(old, z_range):
    try:
        table = new_measurements(old, 2020, "S2n", z_range=z_range)
    except (ValueError, TypeError) as exc:
        assert _names(exc, "old", "z_range"), exc
        assert not _leaks_path(str(exc)), exc
    else:
        assert np.isfinite(table[["S2n", "S2n_uncertainty"]].to_numpy()).all()


@FAST
@given(name=ANY_SCALAR)
def test_load_model_any_name(name):
    try:
        table = load_model(name, warn=False)
    except (ValueError, TypeError) as exc:
        assert _names(exc, "name"), exc
        assert not _leaks_path(str(exc)), exc
    else:
        assert np.isfinite(table["mass_excess"]).all()


COLUMNS = ("Z", "N", "mass_excess", "uncertainty")


@FAST
@given(
    col=st.sampled_from(COLUMNS),
    values=st.lists(ANY_SCALAR, min_size=1, max_size=4),
    kind=st.sampled_from(["S1n", "S2n", "Qalpha"]),
)
def test_helpers_on_tables_with_bad_cells(col, values, kind):
    table = _small_table()
    column = table[col].astype(object)
    column.iloc[: len(values)] = values
    table[col] = pd.Series(list(column), dtype=object)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # e.g. numpy's ComplexWarning: never swallowed
            derived = separation_energy(table, kind)
            bound = binding_energy(table)
    except (ValueError, TypeError) as exc:
        assert _names(exc, "table"), exc
    else:
        assert np.isfinite(derived[kind]).all() and np.isfinite(bound["binding_energy"]).all()
        unc = derived[f"{kind}_uncertainty"]
        assert (unc.isna() | (np.isfinite(unc) & (unc >= 0))).all()


@FAST
@given(
    rows=st.lists(
        st.tuples(
            st.one_of(st.integers(0, 30), st.floats(-5, 30), st.just("x")),
            st.one_of(st.integers(0, 30), st.floats(-5, 30), st.just("nan")),
            st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.just("")),
            st.one_of(st.floats(-1, 1), st.just("inf")),
        ),
        max_size=4,
    )
)
def test_user_tables_with_bad_rows(tmp_path_factory, rows):
    lines = ["Z,N,ME,err"] + [",".join(str(v) for v in row) for row in rows]
    path = tmp_path_factory.mktemp("user") / "table.csv"
    path.write_text("\n".join(lines) + "\n")
    try:
        table = load_model_table(path)
    except (ValueError, TypeError) as exc:
        assert _names(exc, "path="), exc
    else:
        assert np.isfinite(table[["mass_excess", "uncertainty"]].to_numpy()).all()
        assert (table["uncertainty"] >= 0).all()
        assert (table[["Z", "N"]].to_numpy() >= 0).all()
