"""Fused all-particle Metropolis step with the closed-form local energy of Gaussian x Pade-Jastrow.

The generic path moves the walkers with the core kernel (``ln|psi|^2`` at the proposal) and then
evaluates the local energy at the new positions factor by factor, i.e. the pair distances twice
and some thirty separate tensor passes. For ``GaussianJastrow`` (Pade factor or none) in a
harmonic trap (Coulomb or free), everything one step needs follows from the proposal and its
pair distances, so :class:`FusedMetropolis` computes ``ln|psi|^2`` *and* the local energy of the
proposal in one pass and keeps the old energy of rejected walkers:

    grad ln psi = -2 alpha B r_k + sum_j u'(r_kj) r_kj / r_kj,
    lap ln psi  = -2 alpha N tr(B) + 2 sum_{i<j} (u''(r_ij) + (d - 1) u'(r_ij) / r_ij),
    E_L = -1/2 (lap + |grad|^2) + omega^2/2 sum_k r_k^T W r_k + sum_{i<j} 1 / r_ij,

with ``u = a r / (1 + beta r)``. The chain is the generic one: the same random numbers in the
same order and the same accept/reject rule, so a seeded run gives the same positions and
energies up to float64 round-off (tested).

Random numbers dominate the eager step: the proposal normals come from
:mod:`bayesphys.vmc._normals`, a vectorised Box-Muller on ``torch.rand`` that reproduces
``torch.randn`` and consumes the generator identically.

Optionally the whole step (Box-Muller, move, ratio, accept, energy, select) is compiled by
``torch.compile`` into a few loops; a failing compilation falls back to eager with a warning.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace

import torch
from torch import Tensor

from bayesphys.vmc._normals import (
    CHUNK,
    Workspace,
    adapt_allocator,
    buf,
    n_uniforms,
    normals_from_uniforms,
    uniforms_reproduce_randn,
)
from bayesphys.vmc._prefetch import UniformPrefetcher
from bayesphys.vmc.systems import HarmonicTrap
from bayesphys.vmc.wavefunctions.base import WaveFunction
from bayesphys.vmc.wavefunctions.gaussian import (
    Gaussian,
    GaussianJastrow,
    PadeJastrow,
    cusp_matrix,
)

__all__ = ["FusedMetropolis", "fused_supported"]


def fused_supported(wf: WaveFunction, system: HarmonicTrap) -> bool:
    """True for ``GaussianJastrow`` (Pade factor or none) in a free or Coulomb trap."""
    if type(wf) is not GaussianJastrow or system.interaction not in (None, "coulomb"):
        return False
    return [type(f) for f in wf.factors] in ([Gaussian], [Gaussian, PadeJastrow])


@dataclass(frozen=True)
class _Spec:
    """Static shape information (constants for ``torch.compile``)."""

    n_particles: int
    dim: int
    pade: bool
    coulomb: bool
    # Per-walker weighted sums as matrix-vector products (eager) or as elementwise products
    # and sums, which torch.compile unrolls into its fused loop (a matmul would split it).
    matvec: bool = True
    # Unit Gaussian and trap weights (2-D, or spherical 3-D with beta_z = 1): one sum of
    # squares serves the Gaussian, its gradient and the trap potential.
    isotropic: bool = False


def _wsum(x: Tensor, weights: Tensor, spec: _Spec, out: Tensor | None = None) -> Tensor:
    """``sum_k x[..., k] weights[k]``."""
    if not spec.matvec:
        return (x * weights).sum(-1)
    return torch.mv(x, weights, out=out) if x.ndim == 2 else x @ weights


def _energy(
    P: Tensor, p: dict[str, Tensor], spec: _Spec, ws: Workspace | None = None
) -> tuple[Tensor, Tensor, Tensor]:
    """``ln|psi|^2``, kinetic and potential energy per walker at flat positions ``(W, N * d)``.

    Written for eager speed. Per-walker sums over the ``N * d`` coordinates are matrix-vector
    products (a reduction over a short inner axis is slower in eager torch), and
    ``|grad ln psi|^2`` is expanded so that ``N = 2`` needs no gradient vector:
    ``|g + G|^2 = 4 alpha^2 sum B^2 r^2 - 4 alpha sum_{i<j} (u'/r) r_ij^T B r_ij + |G|^2`` with
    ``g`` the Gaussian and ``G`` the Jastrow gradient (``sum_k g_k . G_k`` collapses to pairs).
    With a workspace every intermediate lives in a reused buffer (and so do the results): a
    fresh 1e5-walker temporary per operation made glibc return and re-fault pages, which cost
    more than the arithmetic.
    """
    N, d = spec.n_particles, spec.dim
    W = P.shape[0]
    alpha = p["alpha"]
    sq = torch.mul(P, P, out=buf(ws, "sq", P.shape))
    if spec.isotropic:
        s_gauss = s_grad = s_trap = _wsum(sq, p["ones_nd"], spec, buf(ws, "s", (W,)))
    else:
        s_gauss = _wsum(sq, p["gw_flat"], spec, buf(ws, "s", (W,)))
        s_grad = _wsum(sq, p["gw2_flat"], spec, buf(ws, "s_grad", (W,)))
        s_trap = _wsum(sq, p["trap_flat"], spec, buf(ws, "s_trap", (W,)))
    log_psi = torch.mul(s_gauss, -alpha, out=buf(ws, "log_psi", (W,)))
    grad2 = torch.mul(s_grad, 4.0 * alpha * alpha, out=buf(ws, "grad2", (W,)))
    potential = torch.mul(s_trap, 0.5 * p["omega2"], out=buf(ws, "potential", (W,)))
    lap = (-2.0 * N) * alpha * p["gw_sum"]  # 0-dim: the Gaussian's Laplacian is constant
    if N > 1 and (spec.pade or spec.coulomb):
        if N == 2:  # one pair: slices and (walkers,) vectors, no gathers or pair sums
            diff = torch.sub(P[:, :d], P[:, d:], out=buf(ws, "diff", (W, d)))
            pair_shape: tuple[int, ...] = (W,)
        else:
            Pv = P.view(-1, N, d)
            diff = Pv[:, p["pair_i"]] - Pv[:, p["pair_j"]]
            pair_shape = diff.shape[:-1]
        diff2 = torch.mul(diff, diff, out=buf(ws, "diff2", diff.shape))
        r2 = _wsum(diff2, p["ones_d"], spec, buf(ws, "r2", pair_shape))
        r = torch.sqrt(r2, out=buf(ws, "r", pair_shape))
        inv_r = torch.reciprocal(r, out=buf(ws, "inv_r", pair_shape))
        if spec.pade:
            a, beta = p["cusp"], p["beta"]
            inv_denom = torch.mul(r, beta, out=buf(ws, "inv_denom", pair_shape))
            inv_denom = inv_denom.add_(1.0).reciprocal_()
            du = torch.mul(inv_denom, inv_denom, out=buf(ws, "du", pair_shape)).mul_(a)
            du_r = torch.mul(du, inv_r, out=buf(ws, "du_r", pair_shape))
            u = torch.mul(r, a, out=buf(ws, "u", pair_shape)).mul_(inv_denom)
            lap_pairs = torch.mul(du, inv_denom, out=buf(ws, "lap_pairs", pair_shape))
            lap_pairs = lap_pairs.mul_(-2.0 * beta).add_(du_r, alpha=d - 1).mul_(2.0)
            r2_gauss = r2 if spec.isotropic else _wsum(diff2, p["gw"], spec)
            cross = torch.mul(du_r, r2_gauss, out=buf(ws, "cross", pair_shape))
            cross = cross.mul_(-4.0 * alpha)
            if N == 2:
                log_psi.add_(u)
                lap = lap_pairs.add_(lap)
                grad2.add_(cross).add_(du.mul_(du), alpha=2.0)
            else:
                log_psi.add_(u.sum(-1))
                lap = lap_pairs.sum(-1).add_(lap)
                pull = du_r.unsqueeze(-1) * diff
                G = torch.zeros_like(Pv).index_add_(1, p["pair_i"], pull)
                G = G.index_add_(1, p["pair_j"], pull, alpha=-1.0).view(P.shape)
                grad2.add_(cross.sum(-1)).add_(_wsum(G.mul_(G), p["ones_nd"], spec))
        if spec.coulomb:
            potential.add_(inv_r if N == 2 else inv_r.sum(-1))
    kinetic = torch.add(grad2, lap, out=buf(ws, "kinetic", (W,))).mul_(-0.5)
    return log_psi.mul_(2.0), kinetic, potential


def _step(
    P: Tensor,
    log_prob: Tensor,
    kinetic: Tensor,
    potential: Tensor,
    step_size: Tensor,
    noise: Tensor,
    log_u: Tensor,
    p: dict[str, Tensor],
    spec: _Spec,
    ws: Workspace | None = None,
) -> tuple[Tensor, ...]:
    """Move, Metropolis test and energy selection of all walkers at flat positions ``P``.

    The returned tensors are always fresh (the walkers' state keeps them); only
    intermediates use the workspace.
    """
    W = P.shape[0]
    delta = torch.mul(noise.view(P.shape), step_size.unsqueeze(-1), out=buf(ws, "delta", P.shape))
    proposal = torch.add(P, delta, out=buf(ws, "proposal", P.shape))
    lp_new, kin_new, pot_new = _energy(proposal, p, spec, ws)
    # The core kernel sets log_alpha = -inf where lp_new or the proposal is not finite. With
    # alpha, B > 0 a non-finite coordinate makes lp_new -inf or NaN, and ln u < NaN or -inf is
    # False and exp(-inf) = 0, NaN -> 0 below: the same decisions without the extra mask.
    log_alpha = torch.sub(lp_new, log_prob, out=buf(ws, "log_alpha", (W,)))
    accepted = log_u < log_alpha
    # delta * 1 + P is bitwise the proposal P + delta and delta * 0 + P is P (delta is
    # finite): this masked add equals torch.where on the (walkers, N * d) positions.
    moved = delta.mul_(accepted.unsqueeze(-1)) + P
    return (
        moved,
        torch.where(accepted, lp_new, log_prob),
        torch.where(accepted, kin_new, kinetic),
        torch.where(accepted, pot_new, potential),
        accepted,
        log_alpha,
    )


def _step_from_uniforms(
    R: Tensor,
    log_prob: Tensor,
    kinetic: Tensor,
    potential: Tensor,
    step_size: Tensor,
    u: Tensor,
    log_u: Tensor,
    p: dict[str, Tensor],
    spec: _Spec,
    ws: Workspace | None = None,
) -> tuple[Tensor, ...]:
    """:func:`_step` with the normals made from the uniforms ``u`` (see ``_normals``)."""
    noise = normals_from_uniforms(u, R.numel(), ws)
    return _step(R, log_prob, kinetic, potential, step_size, noise, log_u, p, spec, ws)


@functools.cache
def _compiled_step() -> Callable[..., tuple[Tensor, ...]]:
    """One compiled step shared by all instances: compiled code is cached per input shape, and
    a second walker count switches torch.compile to a shape-generic version."""
    return torch.compile(_step_from_uniforms)


class FusedMetropolis:
    """All-particle Metropolis step plus local energy for ``GaussianJastrow`` in one pass.

    Parameters
    ----------
    wf : GaussianJastrow
        Trial function with a Pade factor or none (see :func:`fused_supported`); its current
        parameter values are read at every step, so optimisation needs no rebuild.
    system : HarmonicTrap
        Free or Coulomb-interacting trap.
    compile : bool
        Compile the step with ``torch.compile`` (the first call compiles; worth it for long
        runs with many walkers). Falls back to eager with a ``RuntimeWarning`` on failure.
    """

    def __init__(self, wf: WaveFunction, system: HarmonicTrap, *, compile: bool = False) -> None:
        if not fused_supported(wf, system):
            raise TypeError(
                "the fused step needs GaussianJastrow (Pade factor or none) in a free or "
                "Coulomb trap"
            )
        self.wf, self.system = wf, system
        N, d = system.n_particles, system.dim
        pade = len(wf.factors) == 2
        self.spec = _Spec(N, d, pade, system.interaction == "coulomb")
        index = torch.triu_indices(N, N, offset=1)
        self._const = {
            "pair_i": index[0],
            "pair_j": index[1],
            "trap_flat": system.trap_weights.repeat(N),
            "omega2": torch.tensor(system.omega**2, dtype=torch.float64),
            "ones_d": torch.ones(d, dtype=torch.float64),
            "ones_nd": torch.ones(N * d, dtype=torch.float64),
        }
        if pade:
            self._cusp = cusp_matrix(N, d, n_up=wf.factors[1].n_up)
        self.compile = bool(compile)
        # Set by Walkers.prefetching(): draw the next step's uniforms on a second thread.
        self.prefetch = False
        self._uniforms = UniformPrefetcher()
        self.workspace: Workspace = {}  # eager scratch buffers, sized at the first step
        adapt_allocator()

    def inputs(self) -> tuple[dict[str, Tensor], _Spec]:
        """Current (detached) parameter tensors and shape spec as :func:`_energy` takes them."""
        gauss = self.wf.factors[0]
        N, d = self.spec.n_particles, self.spec.dim
        p = dict(self._const)
        p["alpha"] = gauss.alpha.detach()
        gw = gauss._weights(torch.zeros(1, 1, d, dtype=torch.float64)).detach()
        p["gw"], p["gw_flat"], p["gw_sum"] = gw, gw.repeat(N), gw.sum()
        p["gw2_flat"] = p["gw_flat"] * p["gw_flat"]
        isotropic = bool((gw == 1).all() and (self._const["trap_flat"] == 1).all())
        if self.spec.pade:
            pade = self.wf.factors[1]
            p["beta"] = pade.beta.detach()
            p["cusp"] = self._cusp
        return p, replace(self.spec, isotropic=isotropic)

    def energy(self, R: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``ln|psi|^2``, kinetic and potential energy per walker at ``R`` ``(walkers, N, d)``."""
        with torch.no_grad():
            return _energy(R.reshape(R.shape[0], -1), *self.inputs())

    def step(
        self,
        theta: Tensor,
        log_prob: Tensor,
        kinetic: Tensor,
        potential: Tensor,
        step_size: Tensor,
        generator: torch.Generator,
    ) -> tuple[Tensor, ...]:
        """Advance all walkers once.

        Parameters
        ----------
        theta : Tensor
            Flat positions ``(walkers, N * d)`` (the core kernels' layout).
        log_prob, kinetic, potential : Tensor
            ``ln|psi|^2`` and the energies at ``theta``, shape ``(walkers,)``.
        step_size : Tensor
            Per-walker proposal scale ``(walkers,)``.
        generator : torch.Generator
            Random numbers are drawn from it exactly as the core ``RandomWalkMetropolis``
            draws them (normals, then one uniform per walker).

        Returns
        -------
        tuple of Tensor
            New ``theta``, ``log_prob``, ``kinetic``, ``potential`` and the per-walker
            ``accepted`` and ``accept_prob``.
        """
        W, n = theta.shape[0], theta.numel()
        opts = {"generator": generator, "dtype": theta.dtype, "device": theta.device}
        args = (theta, log_prob, kinetic, potential, step_size)
        ws = self.workspace
        with torch.no_grad():
            if n >= CHUNK and theta.device.type == "cpu" and uniforms_reproduce_randn():
                u_shape = (n_uniforms(n) + W,)
                # ln u and exp(log_alpha) run vectorised here; inside the compiled per-walker
                # loop, which strided positions keep scalar, they cost several times more.
                if self.prefetch:
                    u, log_u = self._uniforms.take(generator, u_shape, W)
                else:
                    u = torch.rand(u_shape, out=buf(ws, "uniforms", u_shape), **opts)
                    log_u = torch.log(u[-W:], out=buf(ws, "log_u", (W,)))
                out = self._run(*args, u[:-W], log_u, *self.inputs())
            else:
                noise = torch.randn(theta.shape, **opts)
                log_u = torch.log(torch.rand(W, **opts))
                out = _step(*args, noise, log_u, *self.inputs(), ws)
            accept_prob = torch.clamp(out[-1], max=0.0).exp_().nan_to_num_(nan=0.0)
        return (*out[:-1], accept_prob)

    def sync(self) -> None:
        """Drop uniforms drawn ahead and rewind the generator to the last consumed step."""
        self._uniforms.cancel()

    def _run(self, *args: object) -> tuple[Tensor, ...]:
        if not self.compile:
            return _step_from_uniforms(*args, self.workspace)
        try:
            return _compiled_step()(*args[:-1], replace(args[-1], matvec=False))
        except Exception as err:  # a missing compiler or an inductor bug: eager is always valid
            warnings.warn(
                f"torch.compile of the fused VMC step failed ({type(err).__name__}: {err}); "
                "continuing without compilation",
                RuntimeWarning,
                stacklevel=3,
            )
            self.compile = False
            return _step_from_uniforms(*args, self.workspace)
