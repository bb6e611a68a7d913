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
