"""The examples users copy must run: README/docs code blocks and docstring examples."""

import doctest
import importlib
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOC_FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)
DOCTEST_MODULES = [
    "bayesphys.linear.regression",
    "bayesphys.linear.selection",
    "bayesphys.core.priors",
    "bayesphys.core.priors.base",
    "bayesphys.core.priors.fixed",
    "bayesphys.core.likelihoods",
    "bayesphys.core.likelihoods.continuous",
    "bayesphys.core.blocking",
    "bayesphys.core.results",
    "bayesphys.core.interrupts",
    "bayesphys.core.chains",
    "bayesphys.core.fit_result",
    "bayesphys.inference",
    "bayesphys.core.samplers.sampling",
    "bayesphys.report",
    "bayesphys.data.masses",
    "bayesphys.bma.weights",
    "bayesphys.gp.regression",
    "bayesphys.gp.kernels",
    "bayesphys.bnn.model",
    "bayesphys.bnn.calibration",
    "bayesphys.bma.averaging",
    "bayesphys.vmc.estimation",
    "bayesphys.vmc.optimization",
]


@pytest.mark.parametrize("path", DOC_FILES, ids=[p.name for p in DOC_FILES])
def test_markdown_python_blocks_run(path):
    # A page reads as one tutorial: its blocks run in order in one namespace.
    namespace = {"__name__": "__docs__"}
    for i, block in enumerate(BLOCK.findall(path.read_text())):
        exec(compile(block, f"{path.name}[block {i}]", "exec"), namespace)


@pytest.mark.parametrize("module_name", DOCTEST_MODULES)
def test_docstring_examples(module_name):
    module = importlib.import_module(module_name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
    assert result.failed == 0
