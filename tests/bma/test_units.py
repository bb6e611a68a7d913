"""Tables in keV (as the AME files print them) are refused, not fitted as MeV.

Before, a validation table of S2n in keV scored every model at thousands of sd, and a model
table of mass excesses in keV gave "separation energies" of ~1e4 MeV, without a word.
"""

import pytest

from bayesphys.bma import MassModelAveraging
from bayesphys.data.masses import load_ame, load_model, new_measurements

REGION = (20, 21)


@pytest.fixture(scope="module")
def train():
    return load_ame(2003).query(f"{REGION[0]} <= Z <= {REGION[1]}")


def test_separation_energies_in_kev_are_refused(train):
    valid = new_measurements(2003, 2020, "S2n", z_range=REGION)
    in_kev = valid.assign(S2n=1000 * valid["S2n"])
    bma = MassModelAveraging(["FRDM95", "DUZU"], weights="predictive", random_state=0)
    with pytest.raises(ValueError, match=r"^validation_table: S2n reaches .* in keV\?"):
        bma.fit(train, in_kev)


def test_mass_excesses_in_kev_are_refused(train):
    model = load_model("DUZU")
    in_kev = model.assign(mass_excess=1000 * model["mass_excess"])
    bma = MassModelAveraging({"DUZU": model, "DUZU_keV": in_kev}, weights="uniform")
    with pytest.raises(ValueError, match=r"^models\['DUZU_keV'\]: S2n \(from its mass_excess"):
        bma.fit(train)
    with pytest.raises(ValueError, match=r"^train_table: S2n \(from its mass_excess"):
        MassModelAveraging(["DUZU"], weights="uniform").fit(
            train.assign(mass_excess=1000 * train["mass_excess"])
        )
