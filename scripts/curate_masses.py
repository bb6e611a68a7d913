"""One-off curation of the nuclear mass tables shipped in ``bayesphys/data/masses/``.

Not used at run time: it documents, reproducibly, how each shipped CSV was made. Inputs are the
unpacked wheels of two PyPI packages (data files only; neither is a dependency of bayesphys)::

    pip download --no-deps masstable==0.4.1 pynucastro==3.1.0 -d /tmp/pkgs
    (cd /tmp/pkgs && unzip -qo masstable-0.4.1-py3-none-any.whl -d mt \
        && unzip -qo pynucastro-3.1.0-py3-none-any.whl -d pn)
    python scripts/curate_masses.py --masstable /tmp/pkgs/mt/masstable/data \
        --nubase /tmp/pkgs/pn/pynucastro/nucdata/AtomicMassEvaluation/nubase_4.mas20.txt

Outputs (gzip CSV, MeV): ``ame2003.csv.gz``, ``ame2012.csv.gz``, ``ame2020.csv.gz`` with columns
Z, N, mass_excess, uncertainty, estimated; ``models/<NAME>.csv.gz`` with Z, N, mass_excess.
``PROVENANCE.md`` beside them records sources, licenses and every cut.
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import numpy as np
import pandas as pd

OUT = Path(__file__).resolve().parents[1] / "bayesphys" / "data" / "masses"
MODELS = (
    "FRDM95", "HFB14", "HFB26", "KTUY05", "DUZU", "ETFSI12", "WS32010", "WS32011", "BR2013",
    "SVM13", "TCSM12", "TCSM13", "MAJA88",
)  # fmt: skip
# From Z = 101 on, these tables' rms against measured AME2020 masses jumps from < 1 MeV (Z = 90-100)
# to 8-11 MeV, while HFB26 and FRDM95 stay smooth: the masstable files are corrupt there.
CORRUPT_FROM_Z = {"HFB14": 101, "KTUY05": 101, "ETFSI12": 101}
ALL_FILES_CORRUPT_FROM_Z = 101  # AME2003all.txt / AME2012all.txt, see curate_masstable_ame
# Shipped values are rounded: AME to 1e-9 MeV (AME quotes keV to 6 decimals, so nothing is lost),
# models to 1e-6 MeV (their files carry float32 noise or 2 decimals).
AME_DECIMALS, MODEL_DECIMALS = 9, 6


def read_masstable(path: Path) -> pd.DataFrame:
    """Read a masstable ``Z N M`` file; CR-only line endings (DUZU, MAJA88, WS3x) become LF."""
    text = path.read_bytes().decode("ascii").replace("\r\n", "\n").replace("\r", "\n")
    frame = pd.read_csv(io.StringIO(text), sep=r"\s+")
    frame.columns = ["Z", "N", "mass_excess"]
    if frame.duplicated(["Z", "N"]).any():
        raise ValueError(f"{path}: duplicate (Z, N) rows")
    return frame.astype({"Z": int, "N": int, "mass_excess": float})


def curate_masstable_ame(data: Path, year: int) -> pd.DataFrame:
    """Measured masses from ``AME<year>.txt``; '#' (estimated) ones from ``AME<year>all.txt``.

    masstable splits each evaluation into the experimental values (``AME2003.txt``) and all values
    including the systematics-based ones (``AME2003all.txt``, rounded to ~10 keV). The rows of
    ``all`` missing from the experimental file are the '#' values. Like several model tables, the
    ``all`` files are corrupt from Z = 101 on (values shifted by several nuclides: up to 17 MeV off
    both the experimental file and AME2020), so estimated values are kept for Z <= 100 only;
    the experimental files agree with AME2020 there. masstable has no uncertainties: the
    uncertainty column is empty (NaN) for 2003 and 2012.
    """
    measured = read_masstable(data / f"AME{year}.txt")
    everything = read_masstable(data / f"AME{year}all.txt")
    everything = everything[everything["Z"] < ALL_FILES_CORRUPT_FROM_Z]
    merged = pd.merge(measured, everything, on=["Z", "N"], suffixes=("", "_all"))
    # Agreement to the 'all' file's rounding checks that the two files belong together.
    if np.abs(merged["mass_excess"] - merged["mass_excess_all"]).max() > 0.01:
        raise ValueError(f"AME{year}: experimental and 'all' files disagree for Z <= 100")
    key = pd.MultiIndex.from_frame(everything[["Z", "N"]])
    estimated = everything[~key.isin(pd.MultiIndex.from_frame(measured[["Z", "N"]]))]
    out = pd.concat([measured.assign(estimated=False), estimated.assign(estimated=True)])
    out["uncertainty"] = np.nan
    return out[["Z", "N", "mass_excess", "uncertainty", "estimated"]]


def curate_nubase2020(path: Path) -> pd.DataFrame:
    """Ground states of NUBASE2020 (fixed-width; masses in keV, '#' = from systematics).

    Columns (1-based, from the file header): 1-3 A, 5-7 Z, 8 isomer index (0 = ground state),
    19-31 mass excess, 32-42 its uncertainty. Rows without a mass excess are skipped.
    """
    rows = []
    for line in path.read_text().splitlines():
        if line.startswith("#") or len(line) < 42 or line[7] != "0":
            continue
        mass, err = line[18:31].strip(), line[31:42].strip()
        if not mass:
            continue
        a, z = int(line[0:3]), int(line[4:7])
        rows.append(
            (z, a - z, float(mass.rstrip("#")) / 1e3, float(err.rstrip("#")) / 1e3, "#" in mass)
        )
    frame = pd.DataFrame(rows, columns=["Z", "N", "mass_excess", "uncertainty", "estimated"])
    if frame.duplicated(["Z", "N"]).any():
        raise ValueError(f"{path}: duplicate ground states")
    return frame


def write(frame: pd.DataFrame, path: Path, decimals: int) -> None:
    frame = frame.sort_values(["Z", "N"]).round({"mass_excess": decimals, "uncertainty": decimals})
    path.parent.mkdir(parents=True, exist_ok=True)
    # mtime=0 keeps the gzip bytes reproducible from run to run.
    frame.to_csv(path, index=False, compression={"method": "gzip", "mtime": 0})
    print(f"{path.relative_to(OUT)}: {len(frame)} rows, {path.stat().st_size} bytes")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--masstable", type=Path, required=True, help="masstable/data folder")
    parser.add_argument("--nubase", type=Path, required=True, help="nubase_4.mas20.txt")
    args = parser.parse_args()
    for year in (2003, 2012):
        write(curate_masstable_ame(args.masstable, year), OUT / f"ame{year}.csv.gz", AME_DECIMALS)
    write(curate_nubase2020(args.nubase), OUT / "ame2020.csv.gz", AME_DECIMALS)
    for name in MODELS:
        frame = read_masstable(args.masstable / f"{name}.txt")
        if name in CORRUPT_FROM_Z:
            frame = frame[frame["Z"] < CORRUPT_FROM_Z[name]]
        write(frame, OUT / "models" / f"{name}.csv.gz", MODEL_DECIMALS)


if __name__ == "__main__":
    main()
