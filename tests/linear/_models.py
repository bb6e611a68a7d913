"""Models several linear tests build."""

from bayesphys import BayesianLinearRegression
from bayesphys.likelihoods import Gaussian
from bayesphys.priors import InverseGamma, Normal


def normal_inverse_gamma(coef_sd, a0, b0, **options) -> BayesianLinearRegression:
    """The conjugate Normal-Inverse-Gamma model: ``coef | s2 ~ N(0, s2 coef_sd^2)``,
    ``s2 ~ InverseGamma(a0, b0)``; ``options`` go to the estimator (intercept prior, method)."""
    return BayesianLinearRegression(
        Normal(0.0, coef_sd),
        likelihood=Gaussian(variance=InverseGamma(a0, b0)),
        coef_prior_scaled_by_noise=True,
        **options,
    )
