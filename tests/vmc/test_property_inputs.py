"""Hostile input to the VMC entry points (issue 15): a clear error naming the argument, or a
finite answer; never a NaN estimate or a raw numpy/torch error."""

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bayesphys import vmc

SETTINGS = settings(max_examples=25, deadline=None, derandomize=True)
# Numbers a user might type, and the kinds of mistakes they make.
BAD_NUMBERS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**6), max_value=10**6),
    st.sampled_from([None, "1.0", [1.0], complex(1, 1), True, np.float64("nan")]),
)
BAD_COUNTS = st.one_of(
    st.integers(min_value=-5, max_value=40),  # some valid run sizes too
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([None, "10", 2.5, True, [8]]),
)


def _names(err: BaseException, *names: str) -> bool:
    return any(name in str(err) for name in names)


@SETTINGS
@given(omega=BAD_NUMBERS, a=BAD_NUMBERS)
def test_trap_parameters(omega, a):
    try:
        trap = vmc.HarmonicTrap(2, 2, omega=omega, interaction="hard_sphere", a=a)
    except (ValueError, TypeError) as err:
        assert _names(err, "omega", "a (hard-sphere"), err
        return
    assert math.isfinite(trap.omega) and trap.omega > 0 and math.isfinite(trap.a) and trap.a > 0


@SETTINGS
@given(step=BAD_NUMBERS, target=BAD_NUMBERS)
def test_sampler_parameters(step, target):
    try:
        sampler = vmc.Metropolis(step, target_accept=target)
    except (ValueError, TypeError) as err:
        assert _names(err, "step", "target_accept"), err
        return
    assert 0 < sampler.step < math.inf and 0 < sampler.target_accept < 1


@SETTINGS
@given(alpha=BAD_NUMBERS)
def test_wave_function_parameters_are_checked_before_sampling(alpha):
    dot = vmc.QuantumDot(2)
    try:
        wf = vmc.Gaussian(alpha)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est = vmc.estimate(wf, dot, vmc.Metropolis(), 20, 16, 4, progressbar=False)
    except (ValueError, TypeError) as err:
        assert _names(err, "alpha"), err
        return
    # Every term of H is positive: a negative mean local energy can only come from walkers that
    # did not mix (too short a run for a steep alpha), and then it must be flagged.
    assert math.isfinite(est.energy) and (est.energy > 0 or est.mixing)


@SETTINGS
@given(
    n_walkers=BAD_COUNTS,
    n_steps=BAD_COUNTS,
    burn_in=BAD_COUNTS,
    density_bins=BAD_COUNTS,
)
def test_estimate_run_sizes(n_walkers, n_steps, burn_in, density_bins):
    dot, wf = vmc.QuantumDot(2), vmc.GaussianJastrow(0.5, "pade", beta=0.3)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est = vmc.estimate(
                wf,
                dot,
                vmc.Metropolis(),
                n_walkers,
                n_steps,
                burn_in,
                density_bins=density_bins,
                progressbar=False,
            )
    except (ValueError, TypeError) as err:
        assert _names(err, "n_walkers", "n_steps", "burn_in", "density_bins"), err
        return
    assert math.isfinite(est.energy)
    assert math.isfinite(est.stderr) or math.isnan(est.stderr)  # NaN: documented "no bar"


@SETTINGS
@given(learning_rate=BAD_NUMBERS, sr_shift=BAD_NUMBERS, n_iterations=BAD_COUNTS)
def test_optimize_settings(learning_rate, sr_shift, n_iterations):
    dot, wf = vmc.QuantumDot(2), vmc.GaussianJastrow(0.5, "pade", beta=0.3)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = vmc.optimize(
                wf,
                dot,
                vmc.Metropolis(),
                "sr",
                n_iterations,
                20,
                learning_rate=learning_rate,
                sr_shift=sr_shift,
                steps_per_iteration=2,
                burn_in=4,
                progressbar=False,
            )
    except (ValueError, TypeError, FloatingPointError) as err:
        assert _names(err, "learning_rate", "sr_shift", "n_iterations", "iteration"), err
        return
    assert np.all(np.isfinite(result.history["energy"].to_numpy()))


def test_the_strategies_reach_valid_values():
    # The properties above are only informative if valid input also passes through them.
    est = vmc.estimate(
        vmc.Gaussian(0.5), vmc.QuantumDot(2), vmc.Metropolis(), 20, 16, 4, progressbar=False
    )
    assert math.isfinite(est.energy)
    with pytest.raises(ValueError, match="n_steps"):
        vmc.estimate(
            vmc.Gaussian(0.5), vmc.QuantumDot(2), vmc.Metropolis(), 20, 8, 4, progressbar=False
        )
