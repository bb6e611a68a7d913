"""Calibration of probabilistic classifiers."""

from __future__ import annotations

import numpy as np

from bayesphys.core.validation import check_array, check_positive_int


def expected_calibration_error(y_true, proba, n_bins: int = 10) -> float:
    """Expected calibration error (Naeini et al. 2015; Guo et al. 2017) of the top-class confidence.

    Predictions are grouped into ``n_bins`` equal-width bins of confidence ``max_k p_k``; the
    ECE is the bin-size-weighted mean of ``|accuracy - mean confidence|`` over the bins.

    Parameters
    ----------
    y_true : array_like (n,)
        True labels as column indices of ``proba`` (``0..K-1``).
    proba : array_like (n, K) or (n,)
        Predicted class probabilities; a 1-D array is ``P(y = 1)`` of a binary problem.
    n_bins : int
        Number of confidence bins on ``[0, 1]``.

    Returns
    -------
    float
        ECE in ``[0, 1]``; 0 for a perfectly calibrated classifier.

    Examples
    --------
    >>> round(expected_calibration_error([1, 0, 1, 1], [0.9, 0.2, 0.6, 0.8], n_bins=5), 3)
    0.225
    """
    proba = check_array(proba, "proba")
    if proba.ndim == 1:
        proba = np.stack([1.0 - proba, proba], axis=1)
    if proba.ndim != 2 or proba.shape[1] < 2:
        raise ValueError(f"proba must have shape (n, K) with K >= 2 or (n,), got {proba.shape}")
    if np.any(proba < 0) or np.any(proba > 1):
        raise ValueError("proba must hold probabilities in [0, 1]")
    y_true = check_array(y_true, "y_true")
    if y_true.shape != (proba.shape[0],):
        raise ValueError(f"y_true must have shape ({proba.shape[0]},), got {y_true.shape}")
    if np.any(y_true != np.round(y_true)) or np.any(y_true < 0) or np.any(y_true >= proba.shape[1]):
        raise ValueError(f"y_true must hold integer labels in [0, {proba.shape[1]})")
    n_bins = check_positive_int(n_bins, "n_bins")
    confidence = proba.max(axis=1)
    correct = (proba.argmax(axis=1) == y_true).astype(np.float64)
    # Bin k holds confidences in (k/n_bins, (k+1)/n_bins]; confidence 0 cannot occur for K >= 2.
    bins = np.clip(np.ceil(confidence * n_bins).astype(int) - 1, 0, n_bins - 1)
    ece = 0.0
    for k in np.unique(bins):
        mask = bins == k
        ece += mask.mean() * abs(correct[mask].mean() - confidence[mask].mean())
    return float(ece)
