"""Full-batch NUTS over all weights: the core compiled per-chain NUTS on the default model.

Where the closed-form density applies (every weight ``Normal``, Gaussian likelihood with a
fixed noise or a positive noise prior, one output: the defaults), the target offers a compiled
log density and gradient (:mod:`bayesphys.bnn._numba_target`) and
:class:`~bayesphys.core.samplers.compiled_nuts.CompiledNUTS` builds each chain's tree in
compiled code, chains on threads: a chain stops at its own U-turn instead of waiting for the
deepest tree of a lockstep batch, and no leapfrog step passes through Python. Any other model
takes the core torch NUTS kernel (all chains in one batched ``log_prob``, trees doubled in
lockstep). Both use the library default ``max_treedepth=10`` (Stan/PyMC); BNN posteriors are
badly conditioned even in the adapted diagonal metric, so trees often reach the cap, and a
smaller cap (``NUTS(max_treedepth=7)``) trades ESS per draw for cost per draw (the measured
comparison is in ``benchmarks/README.md``). :func:`fit_nuts` honours the cap of the method
object, whatever it is.
"""

from __future__ import annotations

import os

from torch import Tensor

from bayesphys.bnn.inference.hmc import sample_full_batch
from bayesphys.bnn.posterior import Posterior
from bayesphys.core import inference
from bayesphys.core.fit_result import FitResult
from bayesphys.core.samplers.compiled_nuts import CompiledNUTS


def fit_nuts(
    post: Posterior,
    init: Tensor,
    *,
    method: inference.NUTS,
    seed: int,
    progressbar: bool,
    threads: int | None = None,
) -> FitResult:
    """The No-U-Turn sampler with trees capped at ``max_treedepth``, adapting the step size
    (dual averaging towards ``target_accept``) and a diagonal mass matrix during ``tune``:
    :class:`~bayesphys.core.samplers.compiled_nuts.CompiledNUTS`, which runs compiled per-chain
    trees where the posterior offers a compiled density and the torch lockstep kernel
    otherwise.

    ``threads``: threads for the compiled chains: the thread limiter's count for the chain
    group's task, taken before the task drops torch to one intra-op thread
    (:func:`~bayesphys.bnn.inference.groups.run_group` passes it). Default (direct calls): one
    per usable core.
    """
    threads = threads or _usable_cores()
    kernel = CompiledNUTS(
        max_treedepth=method.max_treedepth, target_accept=method.target_accept, threads=threads
    )
    return sample_full_batch(post, init, kernel, method=method, seed=seed, progressbar=progressbar)


def _usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1
