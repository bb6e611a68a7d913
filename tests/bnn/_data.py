"""Seeded data sets shared by the BNN tests."""

import numpy as np


def gap_data(n: int, seed: int):
    """1-D regression with inputs in [-3, -1] and [1, 3] only: a gap around 0."""
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.uniform(-3, -1, n // 2), rng.uniform(1, 3, n - n // 2)])
    y = np.sin(x) + 0.1 * x + 0.15 * rng.normal(size=n)
    return x[:, None], y


def moons(n: int, seed: int, noise: float = 0.3):
    """Two interleaved half circles with Gaussian noise (as sklearn's make_moons)."""
    rng = np.random.default_rng(seed)
    label = rng.integers(0, 2, n)
    angle = rng.uniform(0, np.pi, n)
    x = np.where(label == 0, np.cos(angle), 1.0 - np.cos(angle))
    y = np.where(label == 0, np.sin(angle), 0.5 - np.sin(angle))
    X = np.column_stack([x, y]) + noise * rng.normal(size=(n, 2))
    return X, label
