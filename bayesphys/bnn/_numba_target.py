"""The closed-form BNN log posterior and gradient compiled for
:class:`~bayesphys.core.samplers.compiled_nuts.CompiledNUTS`.

The same density as :meth:`~bayesphys.bnn.posterior.Posterior.closed_form_value_and_grad`
(Normal weight prior, Gaussian likelihood with optional known errors ``y_err``, fixed noise or
a free noise with a positive prior on its log), for one chain: one pass over the data points
runs the network forward and backpropagates the residual at once, so nothing of size ``n``
is stored. Its noise prior is the core closed form
:func:`~bayesphys.core.priors.positive.unconstrained_terms`, compiled here.

Data packing (:func:`compiled_target`): ``idata`` = [n, layers, activation, has y_err, free
noise, prior kind, widths...]; ``fdata`` = [w_mu, 1/w_sigma^2, constant, fixed variance,
power, log y_scale, prior a, prior b, prior constant, X^T (n_in x n), y (n), y_err^2 (n,
if any)].
"""

from __future__ import annotations

import math

import numpy as np
import torch

from bayesphys.core.priors.positive import PositivePrior, unconstrained_terms
from bayesphys.core.samplers._numba_nuts import TARGET_SIGNATURE

try:
    import numba
except ImportError:  # pragma: no cover - exercised only without numba
    numba = None

ACTIVATION_CODES = {"tanh": 0, "relu": 1, "sigmoid": 2, "softplus": 3}
_N_HEAD_I = 6
_N_HEAD_F = 9
_LOG_2PI = math.log(2.0 * math.pi)

if numba is not None:
    _noise_terms = numba.njit(cache=True, error_model="numpy")(unconstrained_terms)

    @numba.njit(cache=True, error_model="numpy", inline="always")
    def _activate(code, a):
        if code == 0:
            return math.tanh(a)
        if code == 1:
            return a if a > 0.0 else 0.0
        if code == 2:
            return 1.0 / (1.0 + math.exp(-a))
        if a > 20.0:  # torch's softplus threshold, so that values equal the torch path's
            return a
        return max(a, 0.0) + math.log1p(math.exp(-abs(a)))  # softplus

    @numba.njit(cache=True, error_model="numpy", inline="always")
    def _activation_grad(code, h):
        """Derivative of the activation through its output ``h`` (as Network.backward)."""
        if code == 0:
            return 1.0 - h * h
        if code == 1:
            return 1.0 if h > 0.0 else 0.0
        if code == 2:
            return h * (1.0 - h)
        if h > 20.0:  # torch's softplus is the identity there
            return 1.0
        return -math.expm1(-h)  # softplus: sigmoid(a) = 1 - exp(-softplus(a))

    _LOG2E = 1.0 / math.log(2.0)
    _LN2_HI = 6.93147180369123816490e-01  # ln 2 split so that k * _LN2_HI is exact
    _LN2_LO = 1.90821492927058770002e-10
    # 1/m! for the Taylor polynomial of exp on |r| <= ln(2)/2 (truncation error < 1e-17).
    _INV_FACT = np.array([1.0 / math.factorial(m) for m in range(14)])

    @numba.njit(cache=True, error_model="numpy", fastmath={"contract", "arcp", "nsz"})
    def _tanh_inplace(a, bits):
        """``a <- tanh(a)`` elementwise, in loops that the compiler vectorises (libm's scalar
        ``tanh`` is most of a gradient's cost otherwise): ``tanh(a) = (E - 1) / (E + 1)`` with
        ``E = exp(2a) = 2**k p(r)`` (``r = 2a - k ln 2``, ``p`` a Taylor polynomial, ``2**k``
        written into the exponent bits via ``bits``, int64 scratch). Absolute error ~1e-16."""
        n = a.shape[0]
        c = _INV_FACT
        for i in range(n):
            y = 2.0 * min(max(a[i], -20.0), 20.0)  # tanh(20) is 1 to double precision
            k = math.floor(y * _LOG2E + 0.5)
            r = (y - k * _LN2_HI) - k * _LN2_LO
            p = c[13]
            for m in range(12, -1, -1):
                p = p * r + c[m]
            a[i] = p
            bits[i] = (np.int64(k) + 1023) << 52
        scale = bits.view(np.float64)
        for i in range(n):
            e = a[i] * scale[i]
            a[i] = (e - 1.0) / (e + 1.0)

    @numba.njit(
        cache=True, error_model="numpy", fastmath={"contract", "arcp", "nsz"}, inline="always"
    )
    def _add_point(fdata, y_off, e_off, i, f, has_err, var0, sum_log_var, rss, d_var):
        """Add point ``i`` (network output ``f``) to the Gaussian likelihood sums: ``log var``
        (only with per-point errors, else the caller uses ``n log var0``), ``r^2 / var`` and the
        ``d / d var0`` term ``r^2 / var^2 - 1 / var``. Returns ``(r / var, sum_log_var, rss,
        d_var)``; inlined so both network paths compile as if written out."""
        resid = fdata[y_off + i] - f
        if has_err:
            var = var0 + fdata[e_off + i]
            sum_log_var += math.log(var)
        else:
            var = var0
        r_over_var = resid / var
        rss += resid * r_over_var
        if has_err:
            d_var += r_over_var * r_over_var - 1.0 / var
        return r_over_var, sum_log_var, rss, d_var

    @numba.njit(cache=True, error_model="numpy", fastmath={"contract", "arcp", "nsz"})
    def _single_hidden(
        theta, grad, fdata, idata, n, n_in, width, act, x_off, y_off, e_off, has_err, var0
    ):
        """Network part of :func:`bnn_log_prob` for one hidden layer and one output, in
        loops over the points (contiguous) per hidden unit. Returns (sum log var, rss, d_var)
        and adds the gradient of ``sum(r / var * f)`` to ``grad``."""
        o_b0 = n_in * width
        o_w1 = o_b0 + width
        o_b1 = o_w1 + width
        hidden = np.empty((width, n))
        bits = np.empty(n, dtype=np.int64)
        f = np.full(n, theta[o_b1])
        for j in range(width):
            h = hidden[j]
            b = theta[o_b0 + j]
            for i in range(n):
                h[i] = b
            for k in range(n_in):
                w = theta[k * width + j]
                x = fdata[x_off + k * n : x_off + (k + 1) * n]
                for i in range(n):
                    h[i] += w * x[i]
            if act == 0:
                _tanh_inplace(h, bits)
            else:
                for i in range(n):
                    h[i] = _activate(act, h[i])
            v = theta[o_w1 + j]
            for i in range(n):
                f[i] += v * h[i]
        sum_log_var = 0.0
        rss = 0.0
        d_var = 0.0
        delta = f  # reused: r / var
        g_b1 = 0.0
        for i in range(n):
            d, sum_log_var, rss, d_var = _add_point(
                fdata, y_off, e_off, i, f[i], has_err, var0, sum_log_var, rss, d_var
            )
            delta[i] = d
            g_b1 += d
        grad[o_b1] += g_b1
        for j in range(width):
            h = hidden[j]
            v = theta[o_w1 + j]
            g_v = 0.0
            g_b = 0.0
            for i in range(n):
                g_v += delta[i] * h[i]
                t = delta[i] * v * _activation_grad(act, h[i])
                h[i] = t
                g_b += t
            grad[o_w1 + j] += g_v
            grad[o_b0 + j] += g_b
            for k in range(n_in):
                x = fdata[x_off + k * n : x_off + (k + 1) * n]
                g_w = 0.0
                for i in range(n):
                    g_w += x[i] * h[i]
                grad[k * width + j] += g_w
        return sum_log_var, rss, d_var

    @numba.njit(
        TARGET_SIGNATURE, cache=True, error_model="numpy", fastmath={"contract", "arcp", "nsz"}
    )
    def bnn_log_prob(theta, grad, fdata, idata):
        """Log posterior of one chain at ``theta``; its gradient goes to ``grad``."""
        n, n_layers, act, has_err, free, kind = (
            idata[0], idata[1], idata[2], idata[3], idata[4], idata[5]
        )  # fmt: skip
        widths = idata[_N_HEAD_I : _N_HEAD_I + n_layers + 1]
        w_mu, inv_var_w, const, var_fixed = fdata[0], fdata[1], fdata[2], fdata[3]
        power, log_y_scale = fdata[4], fdata[5]
        n_in = widths[0]
        x_off = _N_HEAD_F
        y_off = x_off + n * n_in
        e_off = y_off + n
        n_w = 0
        total_units = 0
        max_width = 0
        for layer in range(n_layers):
            n_w += widths[layer] * widths[layer + 1] + widths[layer + 1]
            total_units += widths[layer + 1]
            max_width = max(max_width, widths[layer + 1], widths[layer])
        # Layer outputs of one point (the network input is read from fdata).
        acts = np.empty(total_units)
        delta = np.empty(max_width)
        delta_prev = np.empty(max_width)
        for i in range(n_w):
            grad[i] = 0.0
        z = 0.0
        var0 = var_fixed
        if free:
            z = theta[n_w]
            var0 = math.exp(power * z - 2.0 * log_y_scale)
        log_var0 = math.log(var0)
        sum_log_var = 0.0
        rss = 0.0
        d_var = 0.0
        single = n_layers == 2 and widths[2] == 1
        if single:
            sum_log_var, rss, d_var = _single_hidden(
                theta, grad, fdata, idata, n, n_in, widths[1], act, x_off, y_off, e_off,
                has_err, var0,
            )  # fmt: skip
        for pt in range(0 if single else n):  # any other network: point by point
            # forward
            w_off = 0
            a_off = 0
            for layer in range(n_layers):
                fan_in, fan_out = widths[layer], widths[layer + 1]
                b_off = w_off + fan_in * fan_out
                for j in range(fan_out):
                    acts[a_off + j] = theta[b_off + j]
                for k in range(fan_in):
                    if layer == 0:
                        hk = fdata[x_off + k * n + pt]
                    else:
                        hk = acts[a_off - fan_in + k]
                    row = w_off + k * fan_out
                    for j in range(fan_out):
                        acts[a_off + j] += hk * theta[row + j]
                if layer < n_layers - 1:
                    for j in range(fan_out):
                        acts[a_off + j] = _activate(act, acts[a_off + j])
                w_off = b_off + fan_out
                a_off += fan_out
            f = acts[total_units - 1]
            r_over_var, sum_log_var, rss, d_var = _add_point(
                fdata, y_off, e_off, pt, f, has_err, var0, sum_log_var, rss, d_var
            )
            # backward: gradient of sum(r / var * f) w.r.t. the weights
            delta[0] = r_over_var
            for layer in range(n_layers - 1, -1, -1):
                fan_in, fan_out = widths[layer], widths[layer + 1]
                w_off -= fan_out + fan_in * fan_out
                b_off = w_off + fan_in * fan_out
                a_off -= fan_out
                for j in range(fan_out):
                    grad[b_off + j] += delta[j]
                for k in range(fan_in):
                    if layer == 0:
                        hk = fdata[x_off + k * n + pt]
                    else:
                        hk = acts[a_off - fan_in + k]
                    row = w_off + k * fan_out
                    s = 0.0
                    for j in range(fan_out):
                        grad[row + j] += hk * delta[j]
                        s += theta[row + j] * delta[j]
                    if layer > 0:
                        delta_prev[k] = s * _activation_grad(act, hk)
                if layer > 0:
                    for k in range(fan_in):
                        delta[k] = delta_prev[k]
        if not has_err:
            sum_log_var = n * log_var0
        sq = 0.0
        for i in range(n_w):
            c = theta[i] - w_mu
            sq += c * c
            grad[i] -= inv_var_w * c
        lp = const - 0.5 * (inv_var_w * sq + sum_log_var + rss)
        if free:
            lp_z, d_lp_z = _noise_terms(kind, fdata[6], fdata[7], z)
            lp += fdata[8] + lp_z
            # d loglik / d var0 = sum(r^2/var^2 - 1/var) / 2, d var0 / dz = power * var0
            if has_err:
                grad[n_w] = d_lp_z + 0.5 * d_var * power * var0
            else:
                grad[n_w] = d_lp_z + 0.5 * power * (rss - n)
        return lp


def compiled_target(post) -> tuple | None:
    """``(function, fdata, idata)`` of ``post`` for
    :class:`~bayesphys.core.samplers.compiled_nuts.CompiledNUTS`, or None where the compiled
    density does not apply (no closed form, a hierarchical prior, a noise prior without the
    core closed form, several outputs, no numba)."""
    if numba is None or not post.closed_form or post.net.n_out != 1:
        return None
    if post.X.dtype != torch.float64:
        return None
    n = int(post.X.shape[0])
    widths = post.net.widths
    free = bool(post.free)
    kind, a, b, prior_const, power, var_fixed = 0, 0.0, 0.0, 0.0, 2.0, 1.0
    if free:
        name, prior = next(iter(post.free.items()))
        if not isinstance(prior, PositivePrior) or prior.batch_shape:
            return None
        kind, a, b, prior_const = prior.unconstrained_args()
        power = 2.0 if name == "sigma" else 1.0
    else:
        var_fixed = float(post.fixed[post.likelihood.param_name])
        if post.likelihood.param_name == "sigma":
            var_fixed *= var_fixed
    has_err = post._y_err_sq is not None
    const = post._w_const - 0.5 * n * _LOG_2PI
    head = [
        post._w_mu,
        1.0 / post._w_sigma**2,
        const,
        var_fixed,
        power,
        math.log(post.y_scale),
        float(a),
        float(b),
        float(prior_const),
    ]
    parts = [
        np.asarray(head, dtype=np.float64),
        post.X.detach().numpy().astype(np.float64).T.ravel(),  # X^T: points contiguous
        post._y_t.numpy().astype(np.float64),
    ]
    if has_err:
        parts.append(post._y_err_sq.numpy().astype(np.float64))
    fdata = np.ascontiguousarray(np.concatenate(parts))
    idata = np.asarray(
        [n, len(widths) - 1, ACTIVATION_CODES[post.net.activation], int(has_err), int(free),
         int(kind), *widths],
        dtype=np.int64,
    )  # fmt: skip
    return bnn_log_prob, fdata, idata
