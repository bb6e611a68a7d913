"""is_interrupted reads the marks of every kind of result (core/interrupts.py)."""

import numpy as np
import pytest

from bayesphys.core import results
from bayesphys.core.interrupts import (
    InterruptedRunWarning,
    interrupted_attrs,
    is_interrupted,
    warn_interrupted,
)


def _idata(attrs):
    return results.to_inference_data({"x": np.zeros((1, 3))}, attrs=attrs)


def test_marks_on_inference_data_and_results():
    assert is_interrupted(_idata(interrupted_attrs("2 of 3 draws")))
    assert not is_interrupted(_idata(interrupted_attrs(None)))
    assert not is_interrupted(_idata({}))

    class Fitted:
        interrupted_ = True

    class Result:
        interrupted = False

    assert is_interrupted(Fitted()) and not is_interrupted(Result())
    assert is_interrupted({"interrupted": 1}) and not is_interrupted({"interrupted": 0})
    assert interrupted_attrs("5 of 9")["interrupted_progress"] == "5 of 9"


def test_warning_names_the_progress():
    with pytest.warns(InterruptedRunWarning, match="NUTS interrupted: keeping 4 of 9 draws"):
        warn_interrupted("NUTS", "4 of 9 draws")
