"""Full-batch NUTS over all weights, with the core vectorised sampler.

Tree depth: the library default ``max_treedepth=10`` (Stan/PyMC) allows up to 1023 leapfrog
steps (full passes over the data) per transition. BNN posteriors are badly conditioned even in
the adapted diagonal metric, so NUTS trees usually reach any cap, and the lockstep of all chains
waits for the deepest tree; a smaller cap bounds that cost. The tests and ``benchmarks/bnn.py``
pass ``NUTS(max_treedepth=7)`` for that reason (the measured comparison of caps is in
``benchmarks/README.md``) and ``docs/bnn.md`` recommends it; :func:`fit_nuts` honours the cap of
the method object, whatever it is.
"""

from __future__ import annotations

from torch import Tensor

from bayesphys.bnn.inference.hmc import sample_full_batch
from bayesphys.bnn.posterior import Posterior
from bayesphys.core import inference
from bayesphys.core.fit_result import FitResult
from bayesphys.core.samplers import NUTS


def fit_nuts(
    post: Posterior, init: Tensor, *, method: inference.NUTS, seed: int, progressbar: bool
) -> FitResult:
    """The No-U-Turn sampler (:class:`~bayesphys.core.samplers.NUTS`) with trees capped at
    ``max_treedepth``, adapting the step size (dual averaging towards ``target_accept``) and a
    diagonal mass matrix during ``tune``; all chains in one ``log_prob``, trees doubled in
    lockstep."""
    kernel = NUTS(max_treedepth=method.max_treedepth, target_accept=method.target_accept)
    return sample_full_batch(post, init, kernel, method=method, seed=seed, progressbar=progressbar)
