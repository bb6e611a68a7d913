"""NUTS with each chain's tree built by compiled code, for targets that supply a compiled
log density and gradient."""

from __future__ import annotations

import functools
import importlib.util
import itertools
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import numpy as np
import torch
from torch import Tensor

from bayesphys.core.samplers.base import ChainState, StepInfo, evaluate
from bayesphys.core.samplers.nuts import NUTS

__all__ = ["CompiledNUTS", "compiled_target", "numba_available"]


@functools.cache
def numba_available() -> bool:
    """True if numba is installed (it is a dependency, so normally always)."""
    return importlib.util.find_spec("numba") is not None


def _transitions():
    """The compiled transition loop, imported (and loaded from numba's disk cache, or compiled
    on a machine's first run) only when a compiled target is sampled."""
    from bayesphys.core.samplers._numba_nuts import transitions

    return transitions


def compiled_target(log_prob: object):
    """The ``(function, fdata, idata)`` a target offers as ``log_prob.compiled_target``, or
    None. ``function`` is compiled by numba with the signature
    :data:`~bayesphys.core.samplers._numba_nuts.TARGET_SIGNATURE`."""
    if not numba_available():
        return None
    return getattr(log_prob, "compiled_target", None)


class CompiledNUTS(NUTS):
    """:class:`~bayesphys.core.samplers.nuts.NUTS` whose transitions run as compiled code, one
    tree per chain, chains on threads.

    The sampler is the same (multinomial, generalised U-turn criterion with Stan's checks
    across subtree boundaries, divergences, ``accept_prob`` the tree's mean acceptance), and so
    are the adaptation (the core sampling loop's dual averaging and windowed diagonal mass
    matrix), the sample statistics and the interrupt rule. What differs: every chain builds its
    own tree and stops at its own U-turn, instead of all chains doubling in lockstep until
    the deepest tree is done, and no leapfrog step passes through Python or torch.

    It applies to targets that carry a ``compiled_target`` attribute ``(function, fdata,
    idata)``: a numba function ``log_prob = function(x, grad_out, fdata, idata)`` of the
    signature :data:`~bayesphys.core.samplers._numba_nuts.TARGET_SIGNATURE` and its data
    (float64 and int64 arrays). Other targets, non-float64 or non-CPU chains, and installs
    without numba, take the torch transition of :class:`NUTS` unchanged.

    Random numbers: one SplitMix64 stream per chain and transition, seeded from the state's
    ``torch.Generator`` (one draw per chain and transition), so a seed gives the same draws on
    any number of threads; they are not the torch kernel's draws.

    Parameters
    ----------
    threads : int, optional
        Threads running disjoint ranges of chains (the compiled loop releases the GIL), at
        most one per chain. Default: the thread count of the one thread limiter
        (:mod:`bayesphys.core.threads`), i.e. torch's intra-op thread count when the step
        runs, so that chain groups on threads or Dask workers, which the limiter holds to
        their share of the cores, do not each start a thread per core.
    **kwargs
        As :class:`NUTS`.
    """

    def __init__(self, *args, threads: int | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if threads is not None and (not isinstance(threads, int) or threads < 1):
            raise ValueError(f"threads must be a positive int or None, got {threads!r}")
        self.threads = threads

    def step(self, state: ChainState) -> tuple[ChainState, StepInfo]:
        """Advance all chains by one NUTS transition (see :meth:`Kernel.step`)."""
        compiled = compiled_target(state.log_prob_fn)
        theta = state.theta
        if compiled is None or theta.dtype != torch.float64 or theta.device.type != "cpu":
            return super().step(state)
        if state.grad is None:
            raise ValueError("NUTS needs a state with gradients; build it with NUTS.init_state")
        function, fdata, idata = compiled
        n_chains, dim = theta.shape
        seeds = torch.randint(
            -(2**63), 2**63 - 1, (n_chains,), generator=state.generator, dtype=torch.int64
        )
        out_theta = np.empty((n_chains, dim))
        out_grad = np.empty((n_chains, dim))  # the compiled gradient (unused, see below)
        out_info = np.empty((n_chains, 6))
        args = (
            function,
            fdata,
            idata,
            _c(theta),
            _c(state.log_prob),
            _c(state.grad),
            _c(state.step_size),
            _c(state.inv_mass),
            seeds.numpy().view(np.uint64),
            self.max_treedepth,
            self.max_energy_error,
        )
        outs = (out_theta, out_grad, out_info)
        threads = _step_threads(n_chains, self.threads)
        transitions = _transitions()
        if threads == 1:
            transitions(*args, 0, n_chains, *outs)
        else:  # disjoint chain ranges on the pool's threads and this one
            bounds = [n_chains * i // threads for i in range(threads + 1)]
            ranges = list(itertools.pairwise(bounds))
            pool = _pool(threads - 1)
            futures = [pool.submit(transitions, *args, *r, *outs) for r in ranges[1:]]
            transitions(*args, *ranges[0], *outs)
            for future in futures:
                future.result()
        info_t = torch.from_numpy(out_info)
        new_theta = torch.from_numpy(out_theta)
        # The new states' density and gradient from the target's own (Python) evaluation, one
        # batched call per transition (well under 1% of a transition's leapfrog steps): the
        # carried and stored log densities are the reference path's, and Ctrl-C and the
        # target's checks act between transitions as with the torch kernel.
        log_prob, grad = evaluate(state.log_prob_fn, new_theta, with_grad=True)
        new_state = replace(
            state, theta=new_theta, log_prob=log_prob.to(state.log_prob.dtype), grad=grad
        )
        info = StepInfo(
            accept_prob=info_t[:, 1].clone(),
            accepted=(new_theta != theta).any(-1),
            diverging=info_t[:, 4] > 0,
            n_steps=info_t[:, 2].to(torch.long),
            tree_depth=info_t[:, 3].to(torch.long),
            energy=info_t[:, 5].clone(),
        )
        return new_state, info

    def __repr__(self) -> str:
        return "Compiled" + super().__repr__()


def _step_threads(n_chains: int, threads: int | None = None) -> int:
    """Threads a compiled step of ``n_chains`` chains runs on: ``threads``, or the limiter's
    (torch's) thread count now, at most one per chain."""
    return max(1, min(n_chains, threads or torch.get_num_threads()))


@functools.cache
def _pool(threads: int) -> ThreadPoolExecutor:
    """A thread pool per thread count, kept for the process (threads idle between steps)."""
    return ThreadPoolExecutor(max_workers=threads, thread_name_prefix="nuts-numba")


def _c(t: Tensor) -> np.ndarray:
    """A tensor as a C-contiguous float64 numpy array (no copy when it already is one)."""
    return np.ascontiguousarray(t.detach().numpy(), dtype=np.float64)
