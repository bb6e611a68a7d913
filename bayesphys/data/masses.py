"""Nuclear mass tables: Atomic Mass Evaluations and theoretical mass models, offline.

All tables are pandas DataFrames with one row per nucleus and the columns ``Z``, ``N``, ``A``,
``mass_excess`` (atomic mass excess ``M - A u``, in MeV) and, for measured tables,
``uncertainty`` (MeV). The data ship with the package (see ``masses/PROVENANCE.md``).

Examples
--------
>>> from bayesphys.data.masses import load_ame, separation_energy
>>> ame = load_ame(2020)
>>> row = ame.query("Z == 82 and N == 126")
>>> float(row.mass_excess.iloc[0]), float(row.uncertainty.iloc[0])
(-21.7485, 0.0011)
>>> s2n = separation_energy(ame, "S2n").query("Z == 82 and N == 126")
>>> round(float(s2n.S2n.iloc[0]), 3)
14.106
"""

from __future__ import annotations

import functools
import numbers
import warnings
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from bayesphys.data._derived import (
    ME_ALPHA,
    ME_HYDROGEN,
    ME_NEUTRON,
    DataCoverageWarning,
    binding_energy,
    canonical_kind,
    separation_energy,
)
from bayesphys.data._user_table import load_model_table

__all__ = [
    "AME_YEARS",
    "ME_ALPHA",
    "ME_HYDROGEN",
    "ME_NEUTRON",
    "MODEL_INFO",
    "DataCoverageWarning",
    "FittedToDataWarning",
    "ModelInfo",
    "available_models",
    "binding_energy",
    "existence_outcomes",
    "heaviest_bound_isotopes",
    "load_ame",
    "load_model",
    "load_model_table",
    "model_quality",
    "new_measurements",
    "separation_energy",
]

DATA_DIR = Path(__file__).resolve().parent / "masses"
AME_YEARS = (2003, 2012, 2020)


class FittedToDataWarning(UserWarning):
    """A mass model whose table appears already fitted to measured masses was loaded."""


@dataclass(frozen=True)
class ModelInfo:
    """What is known about a shipped mass model.

    Attributes
    ----------
    description : str
        Model family, as far as the source package documents it.
    reference : str
        Publication, where known ("" when the source package records none).
    fitted_to_data : bool
        The table reproduces measured masses far better (rms ~0.2 MeV against AME2003) than
        any global model of its kind: it appears already corrected on experimental masses, so its
        residuals against AME data are not an honest test of extrapolation.
    z_max : int or None
        Largest Z shipped when rows above it were cut as corrupt in the source file.
    """

    description: str
    reference: str = ""
    fitted_to_data: bool = False
    z_max: int | None = None


_CUT = "rows with Z >= 101 cut: corrupt in the masstable file"
MODEL_INFO: dict[str, ModelInfo] = {
    "FRDM95": ModelInfo(
        "finite-range droplet model",
        "P. Moeller, J. R. Nix, W. D. Myers, W. J. Swiatecki, ADNDT 59, 185 (1995)",
    ),
    "HFB14": ModelInfo(
        f"Skyrme Hartree-Fock-Bogoliubov ({_CUT})",
        "S. Goriely, M. Samyn, J. M. Pearson, PRC 75, 064312 (2007)",
        z_max=100,
    ),
    "HFB26": ModelInfo(
        "Skyrme Hartree-Fock-Bogoliubov",
        "S. Goriely, N. Chamel, J. M. Pearson, PRC 88, 024308 (2013)",
    ),
    "KTUY05": ModelInfo(
        f"Koura-Tachibana-Uno-Yamada mass formula ({_CUT})",
        "H. Koura, T. Tachibana, M. Uno, M. Yamada, Prog. Theor. Phys. 113, 305 (2005)",
        z_max=100,
    ),
    "DUZU": ModelInfo("Duflo-Zuker mass formula", "J. Duflo, A. P. Zuker, PRC 52, R23 (1995)"),
    "ETFSI12": ModelInfo(f"extended Thomas-Fermi plus Strutinsky integral ({_CUT})", z_max=100),
    "WS32010": ModelInfo(
        "Weizsaecker-Skyrme mass formula WS3 (2010)",
        "N. Wang, Z. Liang, M. Liu, X. Wu, PRC 82, 044304 (2010)",
        fitted_to_data=True,
    ),
    "WS32011": ModelInfo(
        "Weizsaecker-Skyrme mass formula WS3 (2011)",
        "M. Liu, N. Wang, Y. Deng, X. Wu, PRC 84, 014333 (2011)",
        fitted_to_data=True,
    ),
    "BR2013": ModelInfo("mass table labelled BR2013 by masstable", fitted_to_data=True),
    "SVM13": ModelInfo("mass table labelled SVM13 by masstable", fitted_to_data=True),
    "TCSM12": ModelInfo("mass table labelled TCSM12 by masstable (Z >= 25)"),
    "TCSM13": ModelInfo("mass table labelled TCSM13 by masstable (Z >= 25)"),
    "MAJA88": ModelInfo(
        "Masson-Jaenecke mass relations", "P. J. Masson, J. Jaenecke, ADNDT 39, 273 (1988)"
    ),
}
# Tables of the source package that are not shipped, with the reason given to a user asking.
_LEFT_OUT = {"GK88": "its masstable file is broken (mass excesses off by ~100 MeV)"}


def available_models() -> list[str]:
    """Names of the shipped theoretical mass tables, for :func:`load_model`."""
    return list(MODEL_INFO)


def _check_year(year, name: str) -> int:
    """An AME year as an int, or a ValueError naming ``name`` and listing the valid years."""
    # Only true integers: 2020.0 or "2020" would otherwise reach a file name.
    if isinstance(year, bool) or not isinstance(year, numbers.Integral) or year not in AME_YEARS:
        raise ValueError(
            f"{name} must be one of {AME_YEARS} (an int), got {year!r} ({type(year).__name__})"
        )
    return int(year)


@functools.cache
def _read(relative: str) -> pd.DataFrame:
    try:
        frame = pd.read_csv(DATA_DIR / relative)
    except FileNotFoundError:
        # Only a broken installation gets here (the arguments are checked before): say so
        # without the internal path.
        raise FileNotFoundError(
            f"the shipped table {relative!r} is missing from this bayesphys installation; "
            "reinstall bayesphys"
        ) from None
    frame.insert(2, "A", frame["Z"] + frame["N"])
    return frame


def load_ame(year: int, *, include_estimated: bool = False) -> pd.DataFrame:
    """Ground-state mass excesses of an Atomic Mass Evaluation.

    Parameters
    ----------
    year : {2003, 2012, 2020}
        AME2003 and AME2012 (from the ``masstable`` package, which carries no uncertainties: the
        ``uncertainty`` column is NaN) or AME2020 (the ground states of NUBASE2020, with
        uncertainties; NUBASE rounds each value to its uncertainty's leading digits).
    include_estimated : bool
        Also return the values the evaluators marked '#' (estimated from systematics, not
        measured), flagged by an extra bool column ``estimated``. For 2003 and 2012 they are
        available for Z <= 100 only (the source file is corrupt beyond).

    Returns
    -------
    pandas.DataFrame
        Columns ``Z, N, A, mass_excess, uncertainty`` (MeV), plus ``estimated`` when
        ``include_estimated``; sorted by Z then N. The free neutron and 1H are included.
        ``attrs["source"]`` names the evaluation.
    """
    year = _check_year(year, "year")
    if not isinstance(include_estimated, bool):
        raise TypeError(f"include_estimated must be True or False, got {include_estimated!r}")
    table = _read(f"ame{year}.csv.gz")
    if include_estimated:
        out = table.copy()
    else:
        out = table[~table["estimated"]].drop(columns="estimated").reset_index(drop=True)
    out.attrs = {"source": f"AME{year}", "include_estimated": include_estimated}
    return out


def load_model(name: str, *, warn: bool = True) -> pd.DataFrame:
    """Mass excesses predicted by a theoretical mass model.

    Parameters
    ----------
    name : str
        One of :func:`available_models` (case-insensitive).
    warn : bool
        Emit a :class:`FittedToDataWarning` for tables that appear fitted to measured masses
        (``MODEL_INFO[name].fitted_to_data``). The flag is always in ``attrs``.

    Returns
    -------
    pandas.DataFrame
        Columns ``Z, N, A, mass_excess`` (MeV), sorted by Z then N. Models carry no uncertainty
        column (a theory table has no measurement error), so :func:`separation_energy` of a model
        has none either. ``attrs`` holds ``source``, ``fitted_to_data`` and ``reference``.
    """
    if not isinstance(name, str):
        raise TypeError(
            f"name must be a model name (str), got {type(name).__name__}; available models: "
            f"{', '.join(available_models())}"
        )
    if not isinstance(warn, bool):
        raise TypeError(f"warn must be True or False, got {warn!r}")
    canonical = {key.upper(): key for key in (*MODEL_INFO, *_LEFT_OUT)}.get(name.strip().upper())
    if canonical in _LEFT_OUT:
        raise ValueError(
            f"name={name!r} is not shipped: {_LEFT_OUT[canonical]}; "
            f"available models: {', '.join(available_models())}"
        )
    if canonical is None:
        raise ValueError(
            f"name={name!r} is not a known mass model; available models: "
            f"{', '.join(available_models())} (or load your own with load_model_table)"
        )
    info = MODEL_INFO[canonical]
    if info.fitted_to_data and warn:
        warnings.warn(
            f"{canonical} appears already fitted to measured masses (rms ~0.2 MeV against "
            "AME2003): its residuals do not test extrapolation; pass warn=False to silence this",
            FittedToDataWarning,
            stacklevel=2,
        )
    out = _read(f"models/{canonical}.csv.gz").copy()
    out.attrs = {
        "source": canonical,
        "fitted_to_data": info.fitted_to_data,
        "reference": info.reference,
    }
    return out


def new_measurements(
    old: int = 2003,
    new: int = 2020,
    kind: str = "S2n",
    *,
    z_range: tuple[int, int] = (8, 100),
) -> pd.DataFrame:
    """Separation energies first made computable by the ``new`` evaluation.

    The validation set of the mass-model literature: train on ``separation_energy(load_ame(old),
    kind)``, test on values measured since. Only experimental masses (no '#') count.

    A (Z, N) is returned when ``new`` makes its ``kind`` computable and **no** shipped evaluation
    up to and including ``old`` (every year of ``AME_YEARS`` up to ``old``) did. Checking ``old``
    alone is not enough: an evaluation can drop a value an earlier one had (AME2012 lacks 14 S2n
    with 8 <= Z <= 100 that AME2003 and AME2020 both have, 101Rb among them), and such a value
    is AME2003 training data, not a later measurement. Before this was fixed only ``old`` was
    checked.

    Parameters
    ----------
    old, new : {2003, 2012, 2020}
        Evaluation years, ``old < new``.
    kind : str
        As in :func:`separation_energy`.
    z_range : (int, int)
        Inclusive Z window (default 8 <= Z <= 100).

    Returns
    -------
    pandas.DataFrame
        :func:`separation_energy` of ``new`` restricted to the (Z, N) absent from that of every
        shipped evaluation up to ``old``, sorted by Z then N.
    """
    old, new = _check_year(old, "old"), _check_year(new, "new")
    if old >= new:
        raise ValueError(f"old must be an earlier evaluation than new, got old={old}, new={new}")
    z_range = _check_z_range(z_range)
    kind = canonical_kind(kind)
    before = pd.concat(
        [separation_energy(load_ame(year), kind)[["Z", "N"]] for year in AME_YEARS if year <= old]
    )
    after = separation_energy(load_ame(new), kind)
    after = after[after["Z"].between(*z_range)]
    seen = pd.MultiIndex.from_frame(before)
    fresh = ~pd.MultiIndex.from_frame(after[["Z", "N"]]).isin(seen)
    return after[fresh].reset_index(drop=True)


def existence_outcomes(
    old: int = 2003,
    new: int = 2012,
    kind: str = "S2n",
    *,
    z_range: tuple[int, int] = (8, 100),
) -> pd.DataFrame:
    """Bound statuses of the nuclei whose ``kind`` the ``new`` evaluation first made known.

    The default existence set of ``MassModelAveraging(weights="existence")``: every nucleus
    of :func:`new_measurements` with ``bound = kind > 0``, so that the nuclei first measured
    bound since ``old`` count as bound and those the evaluation measures unbound (e.g. 26O,
    S2n = -18 keV in AME2020) as unbound. "Bound" is the criterion of ``kind`` alone, the one
    the models' existence probabilities use: with S2n an odd-N nucleus that is unbound to
    one-neutron emission but has S2n > 0 (25O, 28F) counts as bound; pass an
    ``existence_table`` of your own for another criterion.

    Returns
    -------
    pandas.DataFrame
        The columns of :func:`new_measurements` plus the bool column ``bound``.
    """
    fresh = new_measurements(old, new, kind, z_range=z_range)
    kind = canonical_kind(kind)
    return fresh.assign(bound=fresh[kind].to_numpy() > 0)


# The heaviest isotopes known to be bound of the light elements whose neutron drip line
# experiments have reached (see masses/PROVENANCE.md, "Known drip-line nuclei").
_HEAVIEST_BOUND = (
    # Z, N, symbol, last bound established, reference
    (
        8,
        16,
        "24O",
        True,
        "25O, 26O unbound: C. R. Hoffman et al., PRL 100, 152502 (2008); E. Lunderberg et "
        "al., PRL 108, 142503 (2012); Y. Kondo et al., PRL 116, 102503 (2016)",
    ),
    (9, 22, "31F", False, "D. S. Ahn et al., PRL 123, 212501 (2019)"),
    (10, 24, "34Ne", False, "D. S. Ahn et al., PRL 123, 212501 (2019)"),
    (11, 28, "39Na", False, "D. S. Ahn et al., PRL 129, 212502 (2022)"),
)


def heaviest_bound_isotopes() -> pd.DataFrame:
    """The heaviest bound isotopes observed of O, F, Ne and Na (drip-line markers).

    Returns
    -------
    pandas.DataFrame
        Columns ``Z, N, A, nucleus, established`` (True where heavier isotopes are known to be
        unbound, so that the neutron drip line is known: oxygen) and ``reference``. Not in the
        mass tables: 31F, 34Ne and 39Na were seen in fragmentation experiments without a mass
        measurement.
    """
    rows = [
        {"Z": z, "N": n, "A": z + n, "nucleus": name, "established": known, "reference": ref}
        for z, n, name, known, ref in _HEAVIEST_BOUND
    ]
    return pd.DataFrame(rows)


# A table whose rms on the values first measured after one evaluation is this many times
# smaller than on those measured after the next one has seen the first set when it was fitted.
LEAK_RATIO = 2.0
# Worse than any global model by an order of magnitude: a broken table, not a poor model.
CORRUPT_RMS = 3.0


def model_quality(kind: str = "S2n", *, z_range: tuple[int, int] = (8, 100)) -> pd.DataFrame:
    """Data-quality check of the shipped mass models for the AME2003 -> AME2012 -> AME2020 protocol.

    For each model: coverage and ``kind`` rms against the AME2003 values (the training data),
    the values new in AME2012 (``rms_2012``, the validation data) and those new in AME2020
    (``rms_2020``, the test data). A model **fails** when

    - its AME2003 rms exceeds ``CORRUPT_RMS`` (3 MeV): a broken table;
    - ``rms_2020 / rms_2012 > LEAK_RATIO`` (2): it predicts the AME2012 values far better than
      the later ones, the signature of a table fitted to AME2012, whose new values are then
      no held-out test. (Extrapolating further out degrades every model somewhat; the other
      shipped models have ratios of 1.01-1.65.)

    ``fitted_to_data`` (``MODEL_INFO``) is reported, not failed: a table fitted to AME2003
    only (rms ~0.2 MeV on it) still extrapolates honestly to the later values.

    Returns
    -------
    pandas.DataFrame
        One row per shipped model (index ``model``): ``z_min``, ``z_max``, ``n_train``,
        ``rms_2003``, ``n_2012``, ``rms_2012``, ``n_2020``, ``rms_2020`` (MeV), ``ratio``,
        ``fitted_to_data``, ``passes`` and ``reason``.
    """
    kind = canonical_kind(kind)
    z_range = _check_z_range(z_range)
    train = separation_energy(load_ame(2003), kind).dropna(subset=[kind])
    train = train[train["Z"].between(*z_range)]
    windows = {
        "2003": train,
        "2012": new_measurements(2003, 2012, kind, z_range=z_range),
        "2020": new_measurements(2012, 2020, kind, z_range=z_range),
    }
    rows = {}
    for name, info in MODEL_INFO.items():
        theory = separation_energy(load_model(name, warn=False), kind).dropna(subset=[kind])
        row = {"z_min": int(theory["Z"].min()), "z_max": int(theory["Z"].max())}
        for label, data in windows.items():
            joined = data.merge(theory, on=["Z", "N"], suffixes=("", "_model"))
            residual = joined[kind] - joined[f"{kind}_model"]
            row["n_train" if label == "2003" else f"n_{label}"] = len(joined)
            row[f"rms_{label}"] = float((residual**2).mean() ** 0.5)
        row["ratio"] = row["rms_2020"] / row["rms_2012"]
        reasons = []
        if row["rms_2003"] > CORRUPT_RMS:
            reasons.append(f"rms {row['rms_2003']:.2f} MeV against AME2003: a broken table")
        if row["ratio"] > LEAK_RATIO:
            reasons.append(
                f"rms {row['rms_2012']:.2f} MeV on the values new in AME2012 but "
                f"{row['rms_2020']:.2f} MeV on those new in AME2020: fitted to AME2012"
            )
        row["fitted_to_data"] = info.fitted_to_data
        row["passes"] = not reasons
        row["reason"] = "; ".join(reasons)
        rows[name] = row
    table = pd.DataFrame(rows).T
    table.index.name = "model"
    return table.infer_objects()


def _check_z_range(z_range) -> tuple[int, int]:
    """``(z_min, z_max)``: two integers >= 0 with z_min <= z_max."""
    message = (
        f"z_range must be (z_min, z_max), two integers >= 0 with z_min <= z_max, got {z_range!r}"
    )
    if isinstance(z_range, str) or not hasattr(z_range, "__len__") or len(z_range) != 2:
        raise ValueError(message)
    for bound in z_range:
        if isinstance(bound, bool) or not isinstance(bound, numbers.Integral) or bound < 0:
            raise ValueError(message)
    if z_range[0] > z_range[1]:
        raise ValueError(message)
    return int(z_range[0]), int(z_range[1])
