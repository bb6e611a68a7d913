"""The compiled NUTS transition of :class:`~bayesphys.core.samplers.compiled_nuts.CompiledNUTS`.

The same sampler as :class:`~bayesphys.core.samplers.nuts.NUTS` (multinomial sampling, the
generalised U-turn criterion with the checks across subtree boundaries, divergences, the
adaptation statistic), written per chain: each chain builds its own tree to its own depth
instead of waiting, frozen, for the deepest tree of a lockstep batch, and the leaves cost no
Python. The subtree is built iteratively with the checkpoint stack of
:mod:`~bayesphys.core.samplers._nuts_tree` (slot ``k`` holds the data of an open sub-subtree
whose first leaf has ``k`` set bits).

The target is a compiled function of the fixed signature :data:`TARGET_SIGNATURE`,
``log_prob = target(x, grad_out, fdata, idata)`` (``fdata``/``idata``: the target's data packed
in one float64 and one int64 array), passed as a first-class function so that this module's
compiled code is cached on disk once for every target (``cache=True``).

Random numbers: a SplitMix64 stream per chain and transition
(:mod:`bayesphys.core._numba_random`), seeded by the caller from the sampler's
``torch.Generator``; normals by the polar method. A seeded run therefore gives the same
draws on any number of threads, but not the torch kernel's draws: the two are checked
against each other statistically.
"""

from __future__ import annotations

import math

import numpy as np

try:  # numba is a dependency; without it the torch kernel runs
    import numba
    from numba import types
except ImportError:  # pragma: no cover - exercised only without numba
    numba = None

TARGET_SIGNATURE = None
if numba is not None:
    from bayesphys.core._numba_random import fill_normals_polar, uniform

    #: ``log_prob = target(x, grad_out, fdata, idata)``: writes the gradient into ``grad_out``.
    TARGET_SIGNATURE = types.float64(
        types.float64[::1], types.float64[::1], types.float64[::1], types.int64[::1]
    )
    _TARGET = types.FunctionType(TARGET_SIGNATURE)

    @numba.njit(cache=True, error_model="numpy", inline="always")
    def _turning(ps_minus, ps_plus, rho):
        """Generalised U-turn criterion: either end's velocity opposes ``rho``."""
        a = 0.0
        b = 0.0
        for i in range(rho.shape[0]):
            a += ps_minus[i] * rho[i]
            b += ps_plus[i] * rho[i]
        return a <= 0.0 or b <= 0.0

    @numba.njit(cache=True, error_model="numpy", inline="always")
    def _logaddexp(a, b):
        if a == -np.inf:
            return b
        if b == -np.inf:
            return a
        m = max(a, b)
        return m + math.log1p(math.exp(-abs(a - b)))

    @numba.njit(cache=True, error_model="numpy", inline="always")
    def _bit_count(n):
        c = 0
        while n:
            c += n & 1
            n >>= 1
        return c

    @numba.njit(cache=True, error_model="numpy", inline="always")
    def _trailing_ones(n):
        c = 0
        while n & 1:
            c += 1
            n >>= 1
        return c

    @numba.njit(cache=True, error_model="numpy")
    def _subtree(
        target, fdata, idata, leaf, depth, eps, inv_mass, h0, max_error, state,
        prop, rho, p_first, ck, work, stats,
    ):  # fmt: skip
        """Build ``2**depth`` leaves from ``leaf`` (rows x, p, g, lp-in-[3, 0]; updated in place
        to the subtree's last leaf) with signed step ``eps``.

        Writes the multinomial draw into ``prop`` (rows x, g; lp in ``prop[2, 0]``), the
        momentum sum into ``rho``, the first leaf's momentum into ``p_first``. ``stats``:
        [log weight, accept sum, steps, valid, diverged]. Returns the RNG state.
        """
        dim = inv_mass.shape[0]
        x, p, g = leaf[0], leaf[1], leaf[2]
        ps, before, prev_ps, prev_before = work[0], work[1], work[2], work[3]
        x_new = work[4]
        log_w = -np.inf
        accept_sum = 0.0
        steps = 0
        valid = True
        diverged = False
        half = 0.5 * eps
        rho[:] = 0.0
        prev_ps[:] = 0.0
        prev_before[:] = 0.0
        for n in range(1 << depth):
            for i in range(dim):
                p[i] += half * g[i]
                x_new[i] = x[i] + eps * inv_mass[i] * p[i]
            steps += 1
            finite = True
            for i in range(dim):
                if not math.isfinite(x_new[i]):
                    finite = False
            if not finite:
                diverged = True
                valid = False
                break
            lp = target(x_new, g, fdata, idata)
            kinetic = 0.0
            for i in range(dim):
                p[i] += half * g[i]
                ps[i] = inv_mass[i] * p[i]
                kinetic += ps[i] * p[i]
                x[i] = x_new[i]
            log_w_leaf = h0 + lp - 0.5 * kinetic
            # `>=` is False for NaN (a non-finite gradient makes the kinetic energy NaN).
            if not (log_w_leaf >= -max_error and log_w_leaf < np.inf):
                diverged = True
                valid = False
                break
            leaf[3, 0] = lp
            accept_sum += math.exp(min(log_w_leaf, 0.0))
            # Progressive multinomial sampling: leaf i ends up the draw w.p. w_i / sum(w).
            log_w = _logaddexp(log_w, log_w_leaf)
            u, state = uniform(state)
            if math.log(u) < log_w_leaf - log_w:
                prop[0, :] = x
                prop[1, :] = g
                prop[2, 0] = lp
            for i in range(dim):
                before[i] = rho[i]
                rho[i] += p[i]
            if n == 0:
                p_first[:] = p
            if n % 2 == 0:
                slot = ck[_bit_count(n)]
                slot[0, :] = ps
                slot[1, :] = before
                slot[2, :] = rho
                slot[3, :] = prev_ps
                slot[4, :] = prev_before
            else:
                k_max = _bit_count(n) - 1
                k_min = k_max - _trailing_ones(n) + 1
                turned = False
                diff = work[5]
                for k in range(k_min, k_max + 1):
                    for i in range(dim):
                        diff[i] = rho[i] - ck[k, 1, i]
                    turned = turned or _turning(ck[k, 0], ps, diff)
                # Merges of halves of >= 2 leaves: no U-turn across the boundary either.
                for k in range(k_min, k_max):
                    for i in range(dim):
                        diff[i] = ck[k + 1, 2, i] - ck[k, 1, i]
                    turned = turned or _turning(ck[k, 0], ck[k + 1, 0], diff)
                    for i in range(dim):
                        diff[i] = rho[i] - ck[k + 1, 4, i]
                    turned = turned or _turning(ck[k + 1, 3], ps, diff)
                if turned:
                    valid = False
                    break
            prev_ps[:] = ps
            prev_before[:] = before
        stats[0] = log_w
        stats[1] = accept_sum
        stats[2] = steps
        stats[3] = 1.0 if valid else 0.0
        stats[4] = 1.0 if diverged else 0.0
        return state

    @numba.njit(cache=True, error_model="numpy")
    def _transition(
        target, fdata, idata, theta, lp0, grad, eps, inv_mass, max_depth, max_error, state,
        out_theta, out_grad, out_info,
    ):  # fmt: skip
        """One NUTS transition of one chain; ``out_info``: [log prob, accept stat, steps,
        depth, diverged, energy H0]."""
        dim = theta.shape[0]
        p0 = np.empty(dim)
        state = fill_normals_polar(p0, state)
        kinetic = 0.0
        for i in range(dim):
            p0[i] /= math.sqrt(inv_mass[i])
            kinetic += p0[i] * p0[i] * inv_mass[i]
        h0 = -lp0 + 0.5 * kinetic
        # Ends of the tree (rows x, p, g, lp) and the working leaf of a subtree.
        ends = np.empty((2, 4, dim))
        for e in range(2):
            ends[e, 0] = theta
            ends[e, 1] = p0
            ends[e, 2] = grad
            ends[e, 3, 0] = lp0
        leaf = np.empty((4, dim))
        out_theta[:] = theta
        out_grad[:] = grad
        prop_lp = lp0
        sub_prop = np.empty((3, dim))
        rho = p0.copy()
        rho_sub = np.empty(dim)
        p_first = np.empty(dim)
        ck = np.empty((max(max_depth - 1, 1), 5, dim))
        work = np.empty((6, dim))
        ps = np.empty((4, dim))
        total = np.empty(dim)
        stats = np.empty(5)
        log_w = 0.0  # the start point's weight exp(H0 - H0)
        accept_sum = 0.0
        steps = 0
        depth = 0
        diverged = False
        for j in range(max_depth):
            u, state = uniform(state)
            forward = u < 0.5
            near, far = (1, 0) if forward else (0, 1)
            leaf[:] = ends[near]
            state = _subtree(
                target, fdata, idata, leaf, j, eps if forward else -eps, inv_mass, h0,
                max_error, state, sub_prop, rho_sub, p_first, ck, work, stats,
            )  # fmt: skip
            accept_sum += stats[1]
            steps += int(stats[2])
            if stats[4] > 0.0:
                diverged = True
            if stats[3] == 0.0:
                break
            # Biased progressive sampling: move to the new subtree's draw w.p.
            # min(1, w_new / w_old), which favours states far from the start.
            u, state = uniform(state)
            if math.log(u) < stats[0] - log_w:
                out_theta[:] = sub_prop[0]
                out_grad[:] = sub_prop[1]
                prop_lp = sub_prop[2, 0]
            log_w = _logaddexp(log_w, stats[0])
            # U-turn checks of the merged tree: the whole tree; the old tree plus the new
            # first leaf; the old tree's near end plus the new subtree.
            for i in range(dim):
                ps[0, i] = inv_mass[i] * ends[far, 1, i]
                ps[1, i] = inv_mass[i] * ends[near, 1, i]
                ps[2, i] = inv_mass[i] * leaf[1, i]
                ps[3, i] = inv_mass[i] * p_first[i]
                total[i] = rho[i] + rho_sub[i]
            turned = _turning(ps[0], ps[2], total)
            for i in range(dim):
                work[5, i] = rho[i] + p_first[i]
            turned = turned or _turning(ps[0], ps[3], work[5])
            for i in range(dim):
                work[5, i] = ends[near, 1, i] + rho_sub[i]
            turned = turned or _turning(ps[1], ps[2], work[5])
            rho[:] = total
            ends[near] = leaf
            depth += 1
            if turned:
                break
        out_info[0] = prop_lp
        out_info[1] = accept_sum / max(steps, 1)
        out_info[2] = steps
        out_info[3] = depth
        out_info[4] = 1.0 if diverged else 0.0
        out_info[5] = h0
        return state

    _ROWS, _VEC = types.float64[:, ::1], types.float64[::1]
    _TRANSITIONS_SIGNATURE = types.void(
        _TARGET, _VEC, types.int64[::1], _ROWS, _VEC, _ROWS, _VEC, _VEC, types.uint64[::1],
        types.int64, types.float64, types.int64, types.int64, _ROWS, _ROWS, _ROWS,
    )  # fmt: skip

    # An explicit signature types the target as a function pointer, which keeps this code
    # cacheable on disk (a target passed as a dispatcher would be compiled into it per target).
    @numba.njit(_TRANSITIONS_SIGNATURE, cache=True, error_model="numpy", nogil=True)
    def transitions(
        target, fdata, idata, theta, lp, grad, step_size, inv_mass, seeds, max_depth,
        max_error, start, stop, out_theta, out_grad, out_info,
    ):  # fmt: skip
        """NUTS transitions of chains ``start .. stop - 1`` (GIL released: disjoint chain
        ranges run on threads). ``out_info`` rows as in :func:`_transition`."""
        for c in range(start, stop):
            _transition(
                target, fdata, idata, theta[c], lp[c], grad[c], step_size[c], inv_mass,
                max_depth, max_error, seeds[c], out_theta[c], out_grad[c], out_info[c],
            )  # fmt: skip
