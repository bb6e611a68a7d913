"""Evidence weights compare the models on the same training nuclei.

A model whose table stops short of some training nuclei (TCSM12 and TCSM13 start at Z = 25)
used to be scored on fewer nuclei: its log evidence summed fewer terms, and each nucleus moves
it by about a nat, so it won by tens of nats for lacking data (FRDM95 against TCSM12 on
AME2003, 20 <= Z <= 30: weight 1 - 6e-16 on TCSM12, on 105 nuclei against FRDM95's 179).
"""

import warnings

import numpy as np
import pytest
from scipy.stats import multivariate_normal

from bayesphys.bma import MassModelAveraging
from bayesphys.data.masses import DataCoverageWarning, load_ame, load_model

Z_RANGE = (22, 28)
Z_SHORT = 25  # the short table starts here, as TCSM12 does


@pytest.fixture(scope="module")
def train():
    return load_ame(2003).query(f"{Z_RANGE[0]} <= Z <= {Z_RANGE[1]}")


def _gp_log_evidence(model, keep) -> float:
    """Closed form: sum over parity classes of log N(r | 0, eta^2 K_rbf + (noise^2 + err^2) I)
    at the fitted hyperparameters, over the training nuclei where ``keep(X)``."""
    total = 0.0
    for cls, (X, residual, y_err) in model.training.items():
        hp = model.residual_models[cls].hyperparameters_
        rows = keep(X)
        Xs = X[rows]
        d = (Xs[:, None, :] - Xs[None, :, :]) / hp["lengthscale"]
        noise = hp["noise"] ** 2 + (0.0 if y_err is None else y_err[rows] ** 2)
        cov = hp["outputscale"] * np.exp(-0.5 * (d**2).sum(-1)) + np.diag(
            np.broadcast_to(noise, (rows.sum(),))
        )
        total += multivariate_normal(np.zeros(rows.sum()), cov).logpdf(residual[rows])
    return total


def test_evidence_scored_on_shared_training_nuclei(train):
    frdm = load_model("FRDM95")
    models = {"full": frdm, "short": frdm[frdm["Z"] >= Z_SHORT]}
    with pytest.warns(DataCoverageWarning, match="evidence weights compare the models on") as rec:
        bma = MassModelAveraging(models, weights="evidence", random_state=0).fit(train)
    assert {w.filename for w in rec if "evidence" in str(w.message)} == {__file__}
    full, short = bma.corrected_["full"], bma.corrected_["short"]
    # Every nucleus of the short table's fits is shared: its score is its own evidence.
    assert bma.log_scores_["short"] == pytest.approx(short.log_evidence, rel=1e-9)
    # The full table is scored on the same nuclei, at its fitted hyperparameters.
    shared = _gp_log_evidence(full, lambda X: X[:, 0] >= Z_SHORT)
    assert bma.log_scores_["full"] == pytest.approx(shared, rel=1e-6, abs=1e-6)
    # The check of the closed form itself: on all its nuclei it is the GP's own evidence.
    everything = _gp_log_evidence(full, lambda X: np.ones(len(X), dtype=bool))
    assert everything == pytest.approx(full.log_evidence, rel=1e-6)
    # The two tables agree where both exist: the nuclei only one has no longer decide (they
    # were worth tens of nats; what is left is the short fit's hyperparameters being tuned
    # to exactly the shared nuclei).
    gap = abs(bma.log_scores_["full"] - bma.log_scores_["short"])
    assert gap < 0.2 * abs(full.log_evidence - short.log_evidence)


def test_evidence_unchanged_when_models_share_the_training_set(train):
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataCoverageWarning)
        bma = MassModelAveraging(["FRDM95", "DUZU"], weights="evidence", random_state=0)
        bma.fit(train)
    expected = [bma.corrected_[k].log_evidence for k in ("FRDM95", "DUZU")]
    np.testing.assert_allclose(bma.log_scores_.to_numpy(), expected, rtol=1e-12)


def test_reweighted_evidence_uses_shared_nuclei(train):
    frdm = load_model("FRDM95")
    models = {"full": frdm, "short": frdm[frdm["Z"] >= Z_SHORT]}
    bma = MassModelAveraging(models, weights="uniform", random_state=0).fit(train)
    with pytest.warns(DataCoverageWarning, match="evidence weights"):
        by_evidence = bma.reweighted("evidence")
    shared = _gp_log_evidence(bma.corrected_["full"], lambda X: X[:, 0] >= Z_SHORT)
    assert by_evidence.log_scores_["full"] == pytest.approx(shared, rel=1e-6, abs=1e-6)
