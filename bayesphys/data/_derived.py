"""Quantities derived from mass-excess tables: separation energies, Q_alpha, binding energies."""

from __future__ import annotations

import numbers

import numpy as np
import pandas as pd

# Atomic mass excesses (MeV) of the neutron, the 1H atom and the 4He atom, from the NUBASE2020 file
# shipped here (F. G. Kondev et al., Chin. Phys. C 45, 030001 (2021); AME2020: M. Wang et al.,
# Chin. Phys. C 45, 030003 (2021)). Their uncertainties (<= 0.4 eV) are neglected in propagation.
ME_NEUTRON = 8.0713181
ME_HYDROGEN = 7.288971064
ME_ALPHA = 2.42491587

# kind -> (dZ, dN, constant): X = ME(Z - dZ, N - dN) + constant - ME(Z, N) for separation
# energies; Q_alpha has the opposite sign (see separation_energy).
_KINDS = {
    "S1n": (0, 1, ME_NEUTRON),
    "S2n": (0, 2, 2 * ME_NEUTRON),
    "S1p": (1, 0, ME_HYDROGEN),
    "S2p": (2, 0, 2 * ME_HYDROGEN),
    "Qalpha": (2, 2, ME_ALPHA),
}
_ALIASES = {"SN": "S1n", "SP": "S1p", "Q_ALPHA": "Qalpha", "QA": "Qalpha"}
KINDS = tuple(_KINDS)


def canonical_kind(kind: str) -> str:
    """Canonical name of a separation-energy kind (case-insensitive; ``Q_alpha`` = ``Qalpha``)."""
    if isinstance(kind, str):
        lookup = {k.upper(): k for k in _KINDS} | _ALIASES
        found = lookup.get(kind.strip().upper())
        if found is not None:
            return found
    raise ValueError(f"kind must be one of {', '.join(KINDS)} (or Q_alpha), got {kind!r}")


class DataCoverageWarning(UserWarning):
    """Rows were left out of a computation, or nuclei got no prediction.

    Raised with the count and the reason: NaN values dropped from a table, validation nuclei
    that not every mass model covers, nuclei that no mass model covers.
    """


# Proton and neutron numbers beyond this are not nuclei (and would overflow an int cast).
_MAX_NUCLEON_NUMBER = 2**31 - 1


def check_nucleon_numbers(values, name: str) -> np.ndarray:
    """``values`` (Z or N) as an int64 array of integers >= 0, or raise naming ``name``.

    Parameters
    ----------
    values : scalar, array_like or pandas Series
        Proton or neutron numbers. Floats are accepted when they are whole numbers (20.0);
        bools, complex numbers and strings are refused.
    name : str
        How the values are named in error messages, e.g. ``"nuclei column Z"``.

    Returns
    -------
    numpy.ndarray
        1-D int64 (a scalar becomes one element).
    """
    try:
        arr = values.to_numpy() if isinstance(values, pd.Series | pd.Index) else np.asarray(values)
    except ValueError as exc:  # ragged nested sequences
        raise ValueError(f"{name} must be a flat sequence of integers (Z, N): {exc}") from None
    arr = np.atleast_1d(arr)
    if arr.dtype.kind == "O":
        # Object arrays come from mixed pandas columns: only real numbers (or a missing value)
        # may pass, so that "8" or True never turns into a nucleon number.
        def as_float(v):
            if v is None or v is pd.NA or v is pd.NaT:
                return np.nan
            if isinstance(v, numbers.Real) and not isinstance(v, bool | np.bool_):
                return float(v)
            raise TypeError(f"{name} must hold integers (Z, N), got {v!r}")

        arr = np.array([as_float(v) for v in arr.ravel()], dtype=float).reshape(arr.shape)
    if arr.dtype.kind not in "iuf":
        raise TypeError(f"{name} must hold integers (Z, N), got dtype {arr.dtype}")
    arr = arr.astype(float)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one value per nucleus), got shape {arr.shape}")
    finite = np.isfinite(arr)
    if not finite.all():
        raise ValueError(
            f"{name} must hold integers >= 0; it has {int((~finite).sum())} NaN or infinite "
            "value(s): drop those rows"
        )
    fractional = arr != np.round(arr)
    if fractional.any():
        raise ValueError(
            f"{name} must hold integers >= 0 (proton and neutron numbers); "
            f"got {arr[fractional][0]:g} ({int(fractional.sum())} non-integer value(s) in all)"
        )
    if (arr < 0).any() or (arr > _MAX_NUCLEON_NUMBER).any():
        bad = arr[(arr < 0) | (arr > _MAX_NUCLEON_NUMBER)][0]
        raise ValueError(f"{name} must hold integers >= 0 (and < 2**31), got {bad:g}")
    return arr.astype(np.int64)


def real_column(column: pd.Series, name: str, col: str) -> np.ndarray:
    """A column of real numbers as float64 (missing values become NaN), or a TypeError.

    bool, complex and text cells are refused: pandas and numpy would turn them into numbers
    (True -> 1, 2+1j -> 2 with a warning, "8" -> 8) or fail with their own messages.
    """

    def real_or_missing(v) -> bool:
        if v is None or v is pd.NA:
            return True
        return isinstance(v, numbers.Real) and not isinstance(v, bool | np.bool_)

    kind = column.dtype.kind
    if kind in "iuf" or (kind == "O" and all(real_or_missing(v) for v in column)):
        return column.to_numpy(dtype=float, na_value=np.nan)
    raise TypeError(f"{name}: column {col} must hold real numbers, got dtype {column.dtype}")


def check_uncertainty(values: pd.Series, name: str, col: str = "uncertainty") -> None:
    """Uncertainties are standard deviations: >= 0 and finite, or NaN (unknown)."""
    arr = np.asarray(values, dtype=float)
    negative, infinite = arr < 0, np.isinf(arr)
    for bad, what in ((negative, "negative"), (infinite, "infinite")):
        if bad.any():
            raise ValueError(
                f"{name}: column {col} has {int(bad.sum())} {what} value(s) (e.g. "
                f"{arr[bad][0]:g}); uncertainties are standard deviations, finite and >= 0 "
                "(NaN where unknown)"
            )


def check_table(table, name: str = "table") -> pd.DataFrame:
    """Validate a mass table: a DataFrame with integer Z, N >= 0, finite mass_excess, no repeats.

    An ``uncertainty`` column, when present, must hold finite values >= 0 or NaN (unknown).
    Returns a copy with int64 ``Z``, ``N`` and float ``mass_excess`` (and ``uncertainty``).
    """
    if not isinstance(table, pd.DataFrame):
        raise TypeError(
            f"{name} must be a pandas DataFrame with columns Z, N, mass_excess "
            f"(from load_ame, load_model or load_model_table), got {type(table).__name__}"
        )
    missing = [c for c in ("Z", "N", "mass_excess") if c not in table.columns]
    if missing:
        raise ValueError(f"{name} lacks column(s) {missing}; it has {list(table.columns)}")
    clean = {col: check_nucleon_numbers(table[col], f"{name}: column {col}") for col in "ZN"}
    clean["mass_excess"] = real_column(table["mass_excess"], name, "mass_excess")
    if not np.all(np.isfinite(clean["mass_excess"])):
        raise ValueError(f"{name}: column mass_excess must be finite numbers; drop missing rows")
    if "uncertainty" in table.columns:
        clean["uncertainty"] = real_column(table["uncertainty"], name, "uncertainty")
        check_uncertainty(clean["uncertainty"], name)
    out = table.assign(**clean)
    if out.duplicated(["Z", "N"]).any():
        raise ValueError(f"{name} has repeated (Z, N) rows; keep one mass per nucleus")
    return out


def separation_energy(table: pd.DataFrame, kind: str) -> pd.DataFrame:
    """Nucleon separation energies or the alpha-decay Q value from a mass-excess table.

    With atomic mass excesses ``ME`` (MeV) and the constants ``ME_NEUTRON``, ``ME_HYDROGEN``,
    ``ME_ALPHA`` of this module (electron binding differences are neglected, as usual):

    - ``S1n(Z, N) = ME(Z, N-1) + ME_n - ME(Z, N)``, ``S2n = ME(Z, N-2) + 2 ME_n - ME(Z, N)``
    - ``S1p(Z, N) = ME(Z-1, N) + ME_H - ME(Z, N)``, ``S2p = ME(Z-2, N) + 2 ME_H - ME(Z, N)``
    - ``Qalpha(Z, N) = ME(Z, N) - ME(Z-2, N-2) - ME_alpha``

    Parameters
    ----------
    table : pandas.DataFrame
        Columns ``Z``, ``N``, ``mass_excess`` (MeV) and optionally ``uncertainty``.
    kind : {"S1n", "S2n", "S1p", "S2p", "Qalpha"}
        Case-insensitive; ``"Q_alpha"``, ``"Sn"``, ``"Sp"`` are accepted too.

    Returns
    -------
    pandas.DataFrame
        Columns ``Z``, ``N``, ``<kind>`` (canonical name, MeV) for every nucleus whose partner is
        in the table too, sorted by Z then N; when ``table`` has an ``uncertainty`` column, also
        ``<kind>_uncertainty``: both masses' uncertainties added in quadrature (treated as
        independent; AME correlations are not available). NaN uncertainties stay NaN.
    """
    kind = canonical_kind(kind)
    table = check_table(table)
    dz, dn, constant = _KINDS[kind]
    cols = ["Z", "N", "mass_excess"] + (["uncertainty"] if "uncertainty" in table else [])
    parent = table[cols].astype({"Z": int, "N": int})
    partner = parent.assign(Z=parent["Z"] + dz, N=parent["N"] + dn)
    joined = parent.merge(partner, on=["Z", "N"], suffixes=("", "_partner"))
    difference = joined["mass_excess_partner"] + constant - joined["mass_excess"]
    out = joined[["Z", "N"]].copy()
    out[kind] = -difference if kind == "Qalpha" else difference
    if "uncertainty" in cols:
        out[f"{kind}_uncertainty"] = np.hypot(joined["uncertainty"], joined["uncertainty_partner"])
    return out.sort_values(["Z", "N"]).reset_index(drop=True)


def binding_energy(table: pd.DataFrame) -> pd.DataFrame:
    """Total binding energies ``B = Z ME_H + N ME_n - ME`` (MeV) of the nuclei in a table.

    Atomic mass excesses give the binding energy of the atom; the electrons' binding (~0.02 MeV
    at Z = 82) is included, as in the AME's own ``B`` column.

    Parameters
    ----------
    table : pandas.DataFrame
        Columns ``Z``, ``N``, ``mass_excess`` and optionally ``uncertainty``.

    Returns
    -------
    pandas.DataFrame
        Columns ``Z``, ``N``, ``A``, ``binding_energy`` and, when ``table`` has uncertainties,
        ``binding_energy_uncertainty`` (equal to the mass uncertainty).
    """
    table = check_table(table)
    z = table["Z"].to_numpy(dtype=int)
    n = table["N"].to_numpy(dtype=int)
    out = pd.DataFrame({"Z": z, "N": n, "A": z + n})
    out["binding_energy"] = z * ME_HYDROGEN + n * ME_NEUTRON - table["mass_excess"].to_numpy(float)
    if "uncertainty" in table:
        out["binding_energy_uncertainty"] = table["uncertainty"].to_numpy(dtype=float)
    return out
