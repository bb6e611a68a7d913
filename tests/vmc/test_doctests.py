"""Docstring examples of the VMC modules run (the shared docs test lists only core modules)."""

import doctest
import importlib

import pytest

MODULES = [
    "bayesphys.vmc.systems",
    "bayesphys.vmc.local_energy",
    "bayesphys.vmc.wavefunctions.gaussian",
    "bayesphys.vmc.wavefunctions.rbm",
    "bayesphys.vmc.wavefunctions.slater",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
