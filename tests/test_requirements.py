"""Every third-party module the package imports is a declared requirement (issue 17)."""

import ast
import importlib.metadata
import pathlib
import re
import sys
import tomllib

ROOT = pathlib.Path(__file__).resolve().parents[1]
# Imported only inside the optional Dask layer, declared in the `distributed` extra.
OPTIONAL = {"distributed": "distributed", "dask": "distributed"}


def _imported_top_level_modules() -> set[str]:
    names = set()
    for path in (ROOT / "bayesphys").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names) - {"bayesphys"}


def _requirement_names(requirements) -> set[str]:
    return {re.split(r"[\s<>=!~\[;]", r, maxsplit=1)[0].lower() for r in requirements}


def test_imports_are_declared():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = _requirement_names(project["dependencies"])
    extras = {k: _requirement_names(v) for k, v in project["optional-dependencies"].items()}
    distributions = importlib.metadata.packages_distributions()
    missing = []
    for module in sorted(_imported_top_level_modules()):
        if module in OPTIONAL:
            dask = {n.split("[")[0] for n in extras[OPTIONAL[module]]}
            assert "dask" in dask, f"{module} needs the {OPTIONAL[module]!r} extra"
            continue
        dists = {d.lower() for d in distributions.get(module, [module])}
        if not dists & declared:
            missing.append(f"{module} (distribution {sorted(dists)})")
    assert not missing, f"imported but not declared in pyproject dependencies: {missing}"


def test_torch_is_a_range_not_a_pin():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    (torch,) = [r for r in project["dependencies"] if r.startswith("torch")]
    assert "==" not in torch and "<" in torch
