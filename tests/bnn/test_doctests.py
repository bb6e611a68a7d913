"""Docstring examples of the BNN modules run (tests/test_docs_examples.py lists other modules)."""

import doctest
import importlib

import pytest


@pytest.mark.parametrize("module_name", ["bayesphys.bnn.model", "bayesphys.bnn.calibration"])
def test_docstring_examples(module_name):
    module = importlib.import_module(module_name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
