"""Reading a user's own mass table (e.g. a DFT mass table of a research group)."""

from __future__ import annotations

import io
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from bayesphys.data._derived import check_table

# Header names understood, after lower-casing and dropping everything but letters and digits.
_NAMES = {
    "Z": {"z"},
    "N": {"n"},
    "A": {"a"},
    "mass_excess": {"massexcess", "me", "m", "dm", "massexcessmev", "masexcess"},
    "uncertainty": {"uncertainty", "unc", "err", "error", "sigma", "dme", "massexcessuncertainty"},
}
_UNITS = {"mev": 1.0, "kev": 1e-3}


def load_model_table(path, *, units: str = "MeV", name: str | None = None) -> pd.DataFrame:
    """Read a mass table (Z, N, mass excess) from a CSV or whitespace-separated text file.

    Parameters
    ----------
    path : str or os.PathLike
        The file. Lines starting with ``#`` and blank lines are skipped; CR, LF and CRLF line
        endings are all read. Fields are separated by commas, semicolons or whitespace.
        With a header line, columns are found by name (case-insensitive): ``Z``; ``N`` (or
        ``A``, then N = A - Z); the mass excess as ``mass_excess``, ``ME``, ``M`` or ``dm``;
        optionally an ``uncertainty`` (``unc``, ``err``, ``sigma``). Other columns are ignored.
        Without a header the columns are ``Z, N, mass_excess[, uncertainty]``.
    units : {"MeV", "keV"}
        Units of the mass excess (and uncertainty) in the file; the result is in MeV.
    name : str, optional
        Stored in ``attrs["source"]`` (default: the file name without suffix).

    Returns
    -------
    pandas.DataFrame
        Columns ``Z, N, A, mass_excess`` (MeV), plus ``uncertainty`` when the file has one,
        sorted by Z then N: the same layout as :func:`load_model`.
    """
    if not isinstance(path, str | os.PathLike):
        raise TypeError(f"path must be a file path (str or Path), got {type(path).__name__}")
    if not isinstance(units, str) or units.lower() not in _UNITS:
        raise ValueError(f"units must be 'MeV' or 'keV', got {units!r}")
    if name is not None and not isinstance(name, str):
        raise TypeError(f"name must be a str (or None for the file name), got {name!r}")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"path={str(path)!r}: no such file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(
            f"path={str(path)!r} is not a UTF-8 text table (byte {exc.start}); "
            "save it as plain text (CSV or whitespace-separated)"
        ) from None
    lines = [
        line.strip()
        for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        if line.strip() and not line.lstrip().startswith("#")
    ]
    if not lines:
        raise ValueError(f"path={str(path)!r} holds no data lines")
    sep = "," if "," in lines[0] else ";" if ";" in lines[0] else r"\s+"
    has_header = not all(_is_number(tok) for tok in re.split(sep, lines[0]) if tok.strip())
    try:
        raw = pd.read_csv(io.StringIO("\n".join(lines)), sep=sep, header=0 if has_header else None)
    except (pd.errors.ParserError, ValueError) as exc:
        raise ValueError(f"path={str(path)!r}: unreadable table ({exc})") from exc
    frame = _columns(raw, has_header, path)
    scale = _UNITS[units.lower()]
    for col in ("Z", "N", "mass_excess", "uncertainty"):
        if col in frame:
            values = pd.to_numeric(frame[col], errors="coerce")
            if values.isna().any():
                row = int(np.flatnonzero(values.isna().to_numpy())[0])
                raise ValueError(
                    f"path={str(path)!r}: column {col} has a non-numeric or empty value "
                    f"(data row {row + 1}: {frame[col].iloc[row]!r})"
                )
            frame[col] = values * (scale if col in ("mass_excess", "uncertainty") else 1)
    check_table(frame, name=f"path={str(path)!r}")
    frame = frame.astype({"Z": int, "N": int})
    _check_mass_excess_scale(frame, path, units)
    frame.insert(2, "A", frame["Z"] + frame["N"])
    frame = frame.sort_values(["Z", "N"]).reset_index(drop=True)
    frame.attrs = {"source": name if name is not None else path.stem, "fitted_to_data": False}
    return frame


# Mass excess per nucleon, ME / A = (Z ME_H + N ME_n - B) / A, lies between about -1.1 MeV (the
# most bound nuclei, 56Fe and 62Ni) and 8.1 MeV (B = 0); the evaluations reach 9.6 MeV at the
# lightest unbound resonances. A table in keV read as MeV lands 1000 times outside.
_ME_PER_NUCLEON_RANGE = (-3.0, 15.0)  # MeV, with a margin


def _check_mass_excess_scale(frame: pd.DataFrame, path: Path, units: str) -> None:
    """Refuse mass excesses no nucleus can have, naming the likely unit mix-up."""
    mass_number = (frame["Z"] + frame["N"]).to_numpy(dtype=float)
    per_nucleon = frame["mass_excess"].to_numpy(dtype=float) / np.maximum(mass_number, 1.0)
    low, high = _ME_PER_NUCLEON_RANGE
    outside = (per_nucleon < low) | (per_nucleon > high)
    if outside.any():
        row = frame.loc[outside].iloc[0]
        hint = " (is the file in keV? pass units='keV')" if units.lower() == "mev" else ""
        raise ValueError(
            f"path={str(path)!r}: {int(outside.sum())} mass excess(es) outside the physical "
            f"range {low:g} to {high:g} MeV per nucleon, e.g. Z={int(row['Z'])}, "
            f"N={int(row['N'])}: {row['mass_excess']:g} MeV{hint}"
        )


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def _columns(raw: pd.DataFrame, has_header: bool, path: Path) -> pd.DataFrame:
    """Pick Z, N, mass_excess (and uncertainty) out of the raw columns."""
    where = f"path={str(path)!r}"
    if not has_header:
        if raw.shape[1] not in (3, 4):
            raise ValueError(
                f"{where}: {raw.shape[1]} columns without a header; expected Z, N, mass_excess "
                "[, uncertainty], or add a header line naming the columns"
            )
        names = ["Z", "N", "mass_excess", "uncertainty"][: raw.shape[1]]
        return raw.set_axis(names, axis=1)
    found: dict[str, str] = {}
    for col in raw.columns:
        key = re.sub(r"[^a-z0-9]", "", str(col).lower())
        for target, aliases in _NAMES.items():
            if key in aliases and target not in found:
                found[target] = col
    if "N" not in found and {"A", "Z"} <= found.keys():
        mass_number = pd.to_numeric(raw[found["A"]], errors="coerce")
        raw = raw.assign(_N=mass_number - pd.to_numeric(raw[found["Z"]], errors="coerce"))
        found["N"] = "_N"
    missing = [c for c in ("Z", "N", "mass_excess") if c not in found]
    if missing:
        raise ValueError(
            f"{where}: header {list(raw.columns)} lacks {missing}; name the columns Z, N "
            "(or A) and mass_excess (or ME, M), optionally uncertainty"
        )
    if {"A", "N"} <= found.keys() and found["N"] != "_N":
        # Both given: they must agree, or the columns are not what their names say.
        numbers = {c: pd.to_numeric(raw[found[c]], errors="coerce") for c in ("Z", "N", "A")}
        wrong = (numbers["A"] != numbers["Z"] + numbers["N"]) & numbers["A"].notna()
        if wrong.any():
            row = int(np.flatnonzero(wrong.to_numpy())[0])
            raise ValueError(
                f"{where}: A != Z + N in {int(wrong.sum())} row(s) (data row {row + 1}: "
                f"Z={raw[found['Z']].iloc[row]}, N={raw[found['N']].iloc[row]}, "
                f"A={raw[found['A']].iloc[row]}); check which column is which"
            )
    keep = [c for c in ("Z", "N", "mass_excess", "uncertainty") if c in found]
    return pd.DataFrame({c: raw[found[c]].to_numpy() for c in keep})
