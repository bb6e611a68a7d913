"""load_model_table: the formats a research group's own table comes in, and clear errors."""

import numpy as np
import pytest

from bayesphys.data.masses import load_model_table, separation_energy


def _write(tmp_path, text, name="table.dat", newline="\n"):
    path = tmp_path / name
    path.write_bytes(text.replace("\n", newline).encode())
    return path


def test_csv_with_header_and_extra_columns(tmp_path):
    text = "# my DFT table\nA,Z,N,ME,err,beta2\n18,8,10,-0.8,0.1,0.0\n16,8,8,-4.7,0.1,0.0\n"
    path = _write(tmp_path, text)
    table = load_model_table(path, name="UNEDF0")
    assert list(table.columns) == ["Z", "N", "A", "mass_excess", "uncertainty"]
    assert table[["Z", "N", "A"]].values.tolist() == [[8, 8, 16], [8, 10, 18]]  # sorted
    assert table.attrs["source"] == "UNEDF0"
    s2n = separation_energy(table, "S2n")
    assert s2n["S2n_uncertainty"].iloc[0] == pytest.approx(np.hypot(0.1, 0.1))


@pytest.mark.parametrize("newline", ["\n", "\r", "\r\n"])
def test_whitespace_without_header_in_kev(tmp_path, newline):
    path = _write(tmp_path, "8  8  -4737.0\n8\t9   -809.0\n\n", newline=newline)
    table = load_model_table(path, units="keV")
    assert table.attrs["source"] == "table"
    assert table["mass_excess"].tolist() == pytest.approx([-4.737, -0.809])
    assert "uncertainty" not in table


def test_mass_number_instead_of_n(tmp_path):
    table = load_model_table(_write(tmp_path, "Z A M\n82 208 -21.75\n"))
    assert table[["Z", "N"]].values.tolist() == [[82, 126]]


def test_errors_name_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match="path="):
        load_model_table(tmp_path / "missing.csv")
    with pytest.raises(TypeError, match="path must be a file path"):
        load_model_table(42)
    with pytest.raises(ValueError, match="units must be"):
        load_model_table(_write(tmp_path, "8 8 -4.7\n"), units="GeV")
    with pytest.raises(ValueError, match="no data lines"):
        load_model_table(_write(tmp_path, "# nothing\n\n"))
    with pytest.raises(ValueError, match=r"lacks \['mass_excess'\]"):
        load_model_table(_write(tmp_path, "Z,N,energy\n8,8,-4.7\n"))
    with pytest.raises(ValueError, match="5 columns without a header"):
        load_model_table(_write(tmp_path, "8 8 -4.7 0.1 3\n"))
    with pytest.raises(ValueError, match=r"column mass_excess has a non-numeric .*row 2"):
        load_model_table(_write(tmp_path, "Z N ME\n8 8 -4.7\n8 9 n/a\n"))
    with pytest.raises(ValueError, match="repeated"):
        load_model_table(_write(tmp_path, "8 8 -4.7\n8 8 -4.6\n"))
    with pytest.raises(ValueError, match="column N must hold integers"):
        load_model_table(_write(tmp_path, "8 8.5 -4.7\n"))


def test_a_kev_table_read_as_mev_is_refused(tmp_path):
    # Before, 208Pb came back with a mass excess of -21748.5 MeV (and S2n in the GeV).
    path = _write(tmp_path, "Z N ME\n82 126 -21748.5\n20 28 -44224.9\n")
    with pytest.raises(ValueError, match=r"outside the physical range.*units='keV'"):
        load_model_table(path)
    table = load_model_table(path, units="keV")
    assert table["mass_excess"].tolist() == pytest.approx([-44.2249, -21.7485])


def test_every_shipped_table_is_within_the_physical_mass_excess_range(tmp_path):
    from bayesphys.data.masses import available_models, load_ame, load_model

    tables = [load_model(m, warn=False) for m in available_models()]
    tables.append(load_ame(2020, include_estimated=True))
    for table in tables:
        path = tmp_path / "copy.csv"
        table[["Z", "N", "mass_excess"]].to_csv(path, index=False)
        load_model_table(path)  # no error


def test_mass_number_that_disagrees_with_z_plus_n_is_refused(tmp_path):
    # Columns swapped in the header (N and A): before, A was ignored and N = 208 was read.
    path = _write(tmp_path, "Z A N ME\n82 126 208 -21.7485\n")
    with pytest.raises(ValueError, match=r"A != Z \+ N in 1 row\(s\) \(data row 1"):
        load_model_table(path)
    consistent = load_model_table(_write(tmp_path, "Z N A ME\n82 126 208 -21.7485\n"))
    assert consistent[["Z", "N", "A"]].values.tolist() == [[82, 126, 208]]
