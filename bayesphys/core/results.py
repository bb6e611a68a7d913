"""InferenceData building, netCDF I/O and diagnostics: the only module that imports ArviZ.

Keeping every ArviZ call behind this module means a move to ArviZ 1.x (DataTree instead of
InferenceData) touches one file. Families, plots and case studies use these wrappers.
"""

from __future__ import annotations

import os
import uuid
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import arviz as az
import numpy as np
import pandas as pd

from bayesphys.core._idata_checks import check_dims, clean_attrs, draw_shape, to_numpy
from bayesphys.core._transitions import transition_warnings

__all__ = [
    "ELPDData",
    "InferenceData",
    "compare",
    "concat",
    "convergence_warnings",
    "ess",
    "extract_draws",
    "hdi",
    "load",
    "loo",
    "mcse",
    "plot_diagnostics",
    "rhat",
    "save",
    "summary",
    "to_inference_data",
]

InferenceData = az.InferenceData
ELPDData = az.ELPDData

ArrayDict = Mapping[str, Any]

_NETCDF_BACKEND_HINT = (
    "netCDF I/O uses h5netcdf, whose HDF5 backend is the h5py package: install it with "
    "`pip install h5py`"
)


def to_inference_data(
    posterior: ArrayDict,
    *,
    sample_stats: ArrayDict | None = None,
    log_likelihood: ArrayDict | None = None,
    observed_data: ArrayDict | None = None,
    posterior_predictive: ArrayDict | None = None,
    constant_data: ArrayDict | None = None,
    prior: ArrayDict | None = None,
    prior_predictive: ArrayDict | None = None,
    coords: Mapping[str, Sequence[Any]] | None = None,
    dims: Mapping[str, Sequence[str]] | None = None,
    attrs: Mapping[str, Any] | None = None,
) -> InferenceData:
    """Build a validated :class:`InferenceData` from dicts of arrays.

    Parameters
    ----------
    posterior : dict of str to array_like
        Posterior draws, each of shape ``(chain, draw, *event_shape)``; numpy arrays, lists or
        torch tensors (detached and moved to the CPU). Must be finite.
    sample_stats, log_likelihood, posterior_predictive : dict of str to array_like, optional
        Per-draw quantities with the posterior's ``(chain, draw)`` leading shape.
        ``log_likelihood`` holds pointwise log-likelihoods keyed by the *observed* variable's
        name (e.g. ``{"y": array (chain, draw, n_obs)}``) so that :func:`loo` and
        :func:`compare` find them; NaN is rejected there too (``-inf`` is allowed).
    observed_data, constant_data : dict of str to array_like, optional
        Data without ``chain``/``draw`` dimensions.
    prior, prior_predictive : dict of str to array_like, optional
        Prior draws (of the parameters, and of the data they imply) with their own
        ``(chain, draw)`` leading shape.
    coords : dict of str to sequence, optional
        Coordinate values by dimension name.
    dims : dict of str to list of str, optional
        Names of the event dimensions (after ``chain``, ``draw``) by variable name; shared by
        all groups, so ``y`` in ``observed_data`` and in ``log_likelihood`` get the same dims.
    attrs : dict, optional
        Extra attributes stored on every group, e.g. ``{"inference_method": "nuts"}``. ArviZ
        adds ``created_at`` and ``arviz_version``; ``bayesphys_version`` is added here.

    Returns
    -------
    InferenceData

    Raises
    ------
    ValueError
        If the posterior is empty, a posterior or per-draw array lacks the ``(chain, draw)``
        dims or disagrees with the posterior's, a posterior value is NaN/inf (naming the
        variable), or a dimension's length disagrees between variables or with ``coords``.
    TypeError
        If an array is not numeric or an attribute cannot be stored in netCDF.
    """
    if not posterior and not prior:
        raise ValueError("to_inference_data: posterior must contain at least one variable")
    groups = {
        "posterior": posterior,
        "sample_stats": sample_stats,
        "log_likelihood": log_likelihood,
        "posterior_predictive": posterior_predictive,
        "prior": prior,
        "prior_predictive": prior_predictive,
        "observed_data": observed_data,
        "constant_data": constant_data,
    }
    arrays = {
        g: {str(k): to_numpy(v, f"to_inference_data: {g}[{k!r}]") for k, v in d.items()}
        for g, d in groups.items()
        if d
    }
    shape = None
    if "posterior" in arrays:
        shape = draw_shape(arrays["posterior"], "posterior", finite="all")
    for group in ("sample_stats", "log_likelihood", "posterior_predictive"):
        if group in arrays:
            if shape is None:
                raise ValueError(f"to_inference_data: {group} needs a posterior")
            finite = "nan" if group == "log_likelihood" else None
            got = draw_shape(arrays[group], group, finite=finite)
            if got != shape:
                raise ValueError(
                    f"to_inference_data: {group} has (chain, draw) = {got} but the posterior "
                    f"has {shape}"
                )
    prior_shape = None
    for group in ("prior", "prior_predictive"):
        if group in arrays:
            got = draw_shape(arrays[group], group, finite=None)
            if prior_shape is not None and got != prior_shape:
                raise ValueError(
                    f"to_inference_data: prior_predictive has (chain, draw) = {got} but the "
                    f"prior has {prior_shape}"
                )
            prior_shape = got
    check_dims(arrays, dims or {}, coords or {}, shape)
    meta = clean_attrs(attrs)
    group_attrs = {f"{g}_attrs": dict(meta) for g in arrays}
    return az.from_dict(
        **arrays,
        coords={k: list(v) for k, v in (coords or {}).items()},
        dims={k: list(v) for k, v in (dims or {}).items()},
        attrs=dict(meta),
        **group_attrs,
    )


def save(idata: InferenceData, path: str | os.PathLike[str]) -> Path:
    """Write ``idata`` to a netCDF file atomically.

    The data are written to a hidden temporary file in the target directory and moved over
    ``path`` with :func:`os.replace`, so an interrupted run never leaves a truncated file (an
    existing file at ``path`` stays intact until the new one is complete). Parent directories
    are created.

    Parameters
    ----------
    idata : InferenceData
    path : str or path-like
        Destination, conventionally ending in ``.nc``.

    Returns
    -------
    pathlib.Path
        The written path.

    Raises
    ------
    PermissionError
        If the target directory is not writable.
    ImportError
        If the HDF5 backend (h5py) is not installed.
    """
    path = Path(path).expanduser()
    directory = path.parent
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise type(err)(f"save: cannot create directory {directory} for {path}: {err}") from err
    if not os.access(directory, os.W_OK | os.X_OK):
        raise PermissionError(f"save: directory {directory} is not writable; cannot save {path}")
    tmp = directory / f".{path.name}.{uuid.uuid4().hex[:12]}.tmp"
    # Create the file ourselves so it gets the usual umask-based mode, not mkstemp's 0600.
    os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
    try:
        idata.to_netcdf(str(tmp))
        os.replace(tmp, path)
    except ImportError as err:
        tmp.unlink(missing_ok=True)
        raise ImportError(f"save: {_NETCDF_BACKEND_HINT} ({err})") from err
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def load(path: str | os.PathLike[str]) -> InferenceData:
    """Read an :class:`InferenceData` written by :func:`save` (fully loaded into memory).

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        what = "is a directory, not a file" if path.is_dir() else "does not exist"
        raise FileNotFoundError(f"load: cannot read InferenceData: {path} {what}")
    try:
        return az.from_netcdf(str(path))
    except ImportError as err:
        raise ImportError(f"load: {_NETCDF_BACKEND_HINT} ({err})") from err


def summary(
    idata: InferenceData, var_names: str | Sequence[str] | None = None, **kwargs: Any
) -> pd.DataFrame:
    """Posterior summary table (mean, sd, HDI, MCSE, ESS, R-hat): :func:`arviz.summary`."""
    return az.summary(idata, var_names=var_names, **kwargs)


def _diagnostic(func: Any, data: Any, var_names: Any, kwargs: dict[str, Any]) -> Any:
    """Apply an ArviZ diagnostic to InferenceData, or to a (chain, draw, ...) array."""
    if isinstance(data, InferenceData):
        return func(data, var_names=var_names, **kwargs)
    arr = to_numpy(data, "data")
    if arr.ndim <= 2:  # ArviZ's array path: (draw,) is one chain, (chain, draw) several
        return float(np.asarray(func(arr, **kwargs)).squeeze())
    dataset = az.convert_to_dataset({"x": arr})
    return np.asarray(func(dataset, **kwargs)["x"].values)


def ess(data: Any, *, var_names: Any = None, method: str = "bulk", **kwargs: Any) -> Any:
    """Effective sample size (:func:`arviz.ess`).

    ``data`` is InferenceData (returns an ``xarray.Dataset``), a ``(chain, draw)`` array
    (returns a float) or a ``(chain, draw, *shape)`` array (returns an array of ``shape``).
    """
    return _diagnostic(az.ess, data, var_names, {"method": method, **kwargs})


def rhat(data: Any, *, var_names: Any = None, method: str = "rank", **kwargs: Any) -> Any:
    """Rank-normalised split R-hat (:func:`arviz.rhat`); ``data`` as in :func:`ess`."""
    return _diagnostic(az.rhat, data, var_names, {"method": method, **kwargs})


def mcse(data: Any, *, var_names: Any = None, method: str = "mean", **kwargs: Any) -> Any:
    """Monte Carlo standard error (:func:`arviz.mcse`); ``data`` as in :func:`ess`."""
    return _diagnostic(az.mcse, data, var_names, {"method": method, **kwargs})


def hdi(data: Any, prob: float = 0.94, **kwargs: Any) -> Any:
    """Highest density interval (:func:`arviz.hdi`) of InferenceData or an array of draws."""
    if not isinstance(data, InferenceData):
        data = to_numpy(data, "data")
    return az.hdi(data, hdi_prob=prob, **kwargs)


def loo(
    idata: InferenceData, pointwise: bool = False, var_name: str | None = None, **kwargs: Any
) -> ELPDData:
    """PSIS leave-one-out cross-validation (:func:`arviz.loo`); needs a log_likelihood group."""
    return az.loo(idata, pointwise=pointwise, var_name=var_name, **kwargs)


def compare(models: Mapping[str, InferenceData], ic: str = "loo", **kwargs: Any) -> pd.DataFrame:
    """Rank models by expected log predictive density (:func:`arviz.compare`), best first."""
    with warnings.catch_warnings():  # ArviZ 0.22 uses an `inplace=` deprecated by pandas 3
        warnings.filterwarnings("ignore", message=".*inplace keyword", module="arviz")
        return az.compare(dict(models), ic=ic, **kwargs)


def concat(*idatas: InferenceData, dim: str | None = None, **kwargs: Any) -> InferenceData:
    """Concatenate InferenceData objects (:func:`arviz.concat`): new groups or along ``dim``."""
    return az.concat(*idatas, dim=dim, **kwargs)


def extract_draws(idata: InferenceData, var_name: str, group: str = "posterior") -> np.ndarray:
    """Draws of one variable as a numpy array of shape ``(chain * draw, *event_shape)``."""
    if group not in idata.groups():
        raise KeyError(f"extract_draws: no group {group!r}; groups are {idata.groups()}")
    dataset = idata[group]
    if var_name not in dataset.data_vars:
        raise KeyError(
            f"extract_draws: no variable {var_name!r} in {group}; "
            f"variables are {sorted(map(str, dataset.data_vars))}"
        )
    values = dataset[var_name].transpose("chain", "draw", ...).values
    return values.reshape(-1, *values.shape[2:])


def _worst(table: Any, pick: Any) -> tuple[float, str]:
    """Worst value of a diagnostic DataArray and a label like ``beta[a]`` for its element."""
    values = np.asarray(table.values, dtype=float)
    if values.ndim == 0:
        return float(values), str(table.name)
    index = np.unravel_index(pick(values), values.shape)
    labels = [str(table[dim].values[i]) for dim, i in zip(table.dims, index, strict=True)]
    worst = f" (worst of {values.size})" if values.size > 1 else ""
    return float(values[index]), f"{table.name}[{', '.join(labels)}]{worst}"


def convergence_warnings(
    idata: InferenceData,
    rhat_max: float = 1.01,
    ess_min: float = 400,
    *,
    var_names: str | Sequence[str] | None = None,
) -> list[str]:
    """Human-readable warnings: large R-hat, small ESS, divergences, trees cut at max depth.

    Parameters
    ----------
    idata : InferenceData
        Must have a posterior group.
    rhat_max : float, default 1.01
        Largest acceptable rank-normalised split R-hat (Vehtari et al. 2021).
    ess_min : float, default 400
        Smallest acceptable bulk and tail effective sample size.
    var_names : str or list of str, optional
        Variables to check (default: all posterior variables).

    Returns
    -------
    list of str
        One message per problem (empty when every variable passes). Variables that are
        constant over all draws, for which R-hat and ESS are undefined, are reported too, and
        so are divergent transitions and NUTS trees stopped at the maximum depth where
        ``sample_stats`` has ``diverging`` / ``reached_max_treedepth``.
    """
    if "posterior" not in idata.groups():
        raise ValueError("convergence_warnings: idata has no posterior group")
    with warnings.catch_warnings():  # constant variables: reported below in plain words
        warnings.simplefilter("ignore", RuntimeWarning)
        r_hat = az.rhat(idata, var_names=var_names)
        ess_bulk = az.ess(idata, var_names=var_names, method="bulk")
        ess_tail = az.ess(idata, var_names=var_names, method="tail")
    messages = []
    for name in r_hat.data_vars:
        if not np.any(np.isfinite(r_hat[name].values)):
            messages.append(
                f"{name}: R-hat and ESS are undefined (constant over all draws, or too few "
                "draws); a sampler that never moves looks like this"
            )
            continue
        value, label = _worst(r_hat[name], np.nanargmax)
        if value > rhat_max:
            messages.append(
                f"{label}: R-hat = {value:.3f} > {rhat_max}; the chains disagree, so run "
                "longer, reparametrise or check for multimodality"
            )
        for kind, table in (("bulk", ess_bulk), ("tail", ess_tail)):
            value, label = _worst(table[name], np.nanargmin)
            if value < ess_min:
                what = "the mean" if kind == "bulk" else "tail quantiles"
                messages.append(
                    f"{label}: {kind} ESS = {value:.0f} < {ess_min}; estimates of {what} are "
                    "unreliable, so draw more samples"
                )
    if "sample_stats" in idata.groups():
        stats = idata.sample_stats
        names = [k for k in ("diverging", "reached_max_treedepth", "tree_depth") if k in stats]
        messages += transition_warnings({k: stats[k].values for k in names})
    return messages


def plot_diagnostics(
    idata: InferenceData,
    out_dir: str | os.PathLike[str],
    var_names: str | Sequence[str] | None = None,
    *,
    max_variables: int = 8,
) -> dict[str, Path]:
    """Trace and rank plots of posterior variables, saved as ``trace.png`` and ``rank.png``.

    Only the first ``max_variables`` variables are drawn unless ``var_names`` picks them: one
    trace row per variable (a legend above names the chains, one in the row the components of a
    vector variable) and one rank panel per scalar component, in a grid of at most four columns.
    Returns the written paths.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)

    from bayesphys import plotting

    if "posterior" not in idata.groups():
        raise ValueError("plot_diagnostics: idata has no posterior group")
    names = list(idata.posterior.data_vars)
    if var_names is None:
        var_names = names[:max_variables]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    # Rank plots wrap into a grid of at most four columns (one row of every panel was
    # unreadably wide); compact trace plots get a legend naming chains and components.
    sizes = [
        int(np.prod([n for d, n in idata.posterior[v].sizes.items() if d not in ("chain", "draw")]))
        for v in ([var_names] if isinstance(var_names, str) else var_names)
    ]
    n_panels = max(sum(sizes), 1)
    cols = min(4, n_panels)
    rows = -(-n_panels // cols)

    def trace():
        axes = np.atleast_2d(az.plot_trace(idata, var_names=var_names, compact=True, legend=True))
        # ArviZ hangs the chain legend on one panel only: it applies to all, so it goes
        # above the figure; the component legends of vector variables get a title.
        chains = axes[0, -1].get_legend()
        if chains is not None:
            labels = [t.get_text() for t in chains.get_texts()]
            axes[0, -1].figure.legend(
                chains.legend_handles, labels, title="chain", loc="outside upper center",
                ncols=len(labels),
            )  # fmt: skip
            chains.remove()
        for ax in axes[:, 0]:
            if ax.get_legend() is not None:
                ax.get_legend().set_title("component")
        return axes

    def rank():
        from matplotlib.patches import Patch

        axes = np.atleast_1d(
            az.plot_rank(
                idata, var_names=var_names, grid=(rows, cols), figsize=(3.2 * cols, 2.6 * rows)
            )
        )
        # One colour per chain in every panel: one legend for the figure says which.
        first = axes.ravel()[0]
        chains = idata.posterior["chain"].to_numpy()
        handles = [Patch(color=c.patches[0].get_facecolor()) for c in first.containers]
        if len(handles) == len(chains):
            first.figure.legend(
                handles, [str(c) for c in chains], title="chain", loc="outside upper center",
                ncols=len(chains),
            )  # fmt: skip
        return axes

    plots = {"trace": trace, "rank": rank}
    paths = {}
    for kind, plot in plots.items():
        with plotting.style():
            axes = plot()
        fig = np.asarray(axes).ravel()[0].figure
        paths[kind] = plotting.save(fig, out / f"{kind}.png", dpi=100)
    return paths
