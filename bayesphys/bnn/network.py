"""A multilayer perceptron evaluated for many flat parameter vectors (chains) at once.

The network is never an ``nn.Module``: every sampler works on a flat tensor
``theta`` of shape ``(chains, n_params)``, and :meth:`Network.forward` unpacks it into batched
weight matrices so that one call (one ``torch.matmul`` per layer, broadcast over the chain axis)
evaluates all chains. This is what lets the core vectorised HMC run several chains for the price
of one Python loop.
"""

from __future__ import annotations

import itertools
import math
import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "tanh": torch.tanh,
    "relu": torch.relu,
    "sigmoid": torch.sigmoid,
    "softplus": torch.nn.functional.softplus,
}


@dataclass(frozen=True)
class Network:
    """Layout of a fully connected network: layer widths and the flat parameter order.

    Parameters
    ----------
    n_in : int
        Number of input features.
    hidden : tuple of int
        Widths of the hidden layers.
    n_out : int
        Number of outputs (1 for regression and binary classification, K for K classes).
    activation : str
        Hidden-layer nonlinearity, a key of ``ACTIVATIONS``.

    Notes
    -----
    The flat vector holds, layer by layer, the weight matrix ``W{l}`` of shape
    ``(fan_in, fan_out)`` (row-major) followed by the bias ``b{l}`` of shape ``(fan_out,)``.
    """

    n_in: int
    hidden: tuple[int, ...]
    n_out: int
    activation: str = "tanh"

    @property
    def widths(self) -> list[int]:
        """All layer widths, input to output."""
        return [self.n_in, *self.hidden, self.n_out]

    @property
    def groups(self) -> list[tuple[str, tuple[int, ...]]]:
        """Parameter groups ``(name, shape)`` in flat order: ``W0, b0, W1, b1, ...``."""
        out = []
        widths = self.widths
        for layer, (fan_in, fan_out) in enumerate(itertools.pairwise(widths)):
            out.append((f"W{layer}", (fan_in, fan_out)))
            out.append((f"b{layer}", (fan_out,)))
        return out

    @property
    def n_params(self) -> int:
        """Number of weights and biases."""
        return sum(math.prod(shape) for _, shape in self.groups)

    def group_slices(self) -> list[tuple[str, slice]]:
        """Slices of each group in the flat vector."""
        out, offset = [], 0
        for name, shape in self.groups:
            size = math.prod(shape)
            out.append((name, slice(offset, offset + size)))
            offset += size
        return out

    def _layers(self, theta: Tensor):
        """Yield ``(W, b)`` views of each layer, batched over chains."""
        n_chains, offset = theta.shape[0], 0
        for fan_in, fan_out in itertools.pairwise(self.widths):
            w = theta[:, offset : offset + fan_in * fan_out].reshape(n_chains, fan_in, fan_out)
            offset += fan_in * fan_out
            yield w, theta[:, offset : offset + fan_out].unsqueeze(1)
            offset += fan_out

    def forward(self, theta: Tensor, X: Tensor, *, keep: bool = False):
        """Network outputs for every parameter vector.

        Parameters
        ----------
        theta : Tensor
            Flat weights ``(chains, n_params)`` (extra trailing entries are ignored).
        X : Tensor
            Inputs ``(n, n_in)`` shared by all chains, or ``(chains, n, n_in)`` (minibatches).
        keep : bool
            Also return the layer inputs needed by :meth:`backward`.

        Returns
        -------
        Tensor
            Outputs ``(chains, n, n_out)`` (and the list of layer inputs if ``keep``).
        """
        act = ACTIVATIONS[self.activation]
        h, inputs = X, []
        n_layers = len(self.widths) - 1
        for layer, (w, b) in enumerate(self._layers(theta)):
            inputs.append(h)
            # matmul broadcasts a shared (n, fan_in) input over the chain axis of w.
            h = torch.matmul(h, w) + b
            if layer < n_layers - 1:
                h = act(h)
        return (h, inputs) if keep else h

    def backward(self, theta: Tensor, inputs: list[Tensor], delta: Tensor) -> Tensor:
        """Gradient w.r.t. the flat weights of ``sum(delta * output)``, ``(chains, n_params)``.

        Hand-written backpropagation through the batched layers: for networks this small the
        cost of autograd is bookkeeping per operation, not arithmetic, and the sampler needs
        this gradient thousands of times.
        """
        layers = list(self._layers(theta))
        grads = []
        for layer in range(len(layers) - 1, -1, -1):
            w, _ = layers[layer]
            h = inputs[layer]
            grads.append(delta.sum(1))  # bias
            grads.append(torch.matmul(h.transpose(-1, -2), delta).flatten(1))  # weights
            if layer > 0:
                delta = torch.matmul(delta, w.transpose(-1, -2)) * _act_grad(self.activation, h)
        return torch.cat(grads[::-1], dim=1)

    @property
    def single_hidden_scalar_output(self) -> bool:
        """One hidden layer and one output: :meth:`forward_single_hidden` applies."""
        return len(self.hidden) == 1 and self.n_out == 1

    def forward_single_hidden(self, theta: Tensor, X: Tensor) -> tuple[Tensor, Tensor]:
        """Outputs ``(chains, n)`` and hidden activations ``(chains, n, width)`` of a network
        with one hidden layer and one output, for shared inputs ``X`` ``(n, n_in)``.

        The same numbers as :meth:`forward` with fewer tensor operations (fused bias adds): the
        samplers call it once per leapfrog step, and for small networks the fixed cost per
        operation dominates.
        """
        n_chains, (n_in, width) = theta.shape[0], (self.n_in, self.hidden[0])
        o = n_in * width
        w0 = theta[:, :o].view(n_chains, n_in, width)
        b0 = theta[:, o : o + width].unsqueeze(1)
        w1 = theta[:, o + width : o + 2 * width].unsqueeze(-1)
        b1 = theta[:, o + 2 * width : o + 2 * width + 1].unsqueeze(-1)
        h = ACTIVATIONS[self.activation](torch.baddbmm(b0, X.expand(n_chains, *X.shape), w0))
        return torch.baddbmm(b1, h, w1).squeeze(-1), h

    def backward_single_hidden(self, theta: Tensor, X: Tensor, h: Tensor, delta: Tensor) -> Tensor:
        """Gradient w.r.t. the weights of ``sum(delta * output)`` for :meth:`forward_single_hidden`
        (``delta`` ``(chains, n)``, ``h`` its hidden activations): ``(chains, n_params)``."""
        n_chains, (n_in, width) = theta.shape[0], (self.n_in, self.hidden[0])
        o = n_in * width
        w1 = theta[:, o + width : o + 2 * width].unsqueeze(1)
        delta_col = delta.unsqueeze(-1)
        grad_w1 = torch.bmm(delta.unsqueeze(1), h).squeeze(1)
        delta_h = (delta_col * w1) * _act_grad(self.activation, h)
        grad_b0 = delta_h.sum(1)
        grad_w0 = torch.bmm(X.T.expand(n_chains, n_in, X.shape[0]), delta_h).view(n_chains, o)
        return torch.cat((grad_w0, grad_b0, grad_w1, delta.sum(1, keepdim=True)), 1)

    def init(self, n_chains: int, generator: torch.Generator, dtype: torch.dtype) -> Tensor:
        """Random starting weights ``(chains, n_params)``, Glorot-like scale ``1/sqrt(fan_in)``.

        Starting near the prior's typical set of a wide Normal prior would saturate tanh units;
        the fan-in scaling keeps the initial network smooth so warm-up optimisation is quick.
        """
        parts = []
        for name, shape in self.groups:
            scale = 1.0 / math.sqrt(shape[0]) if name.startswith("W") else 0.1
            size = math.prod(shape)
            parts.append(scale * torch.randn((n_chains, size), generator=generator, dtype=dtype))
        return torch.cat(parts, dim=1)


def _act_grad(activation: str, h: Tensor) -> Tensor:
    """Derivative of the activation, expressed through its output ``h``."""
    if activation == "tanh":
        return 1.0 - h * h
    if activation == "relu":
        return (h > 0).to(h.dtype)
    if activation == "sigmoid":
        return h * (1.0 - h)
    # softplus: sigmoid(a) = 1 - exp(-softplus(a)); torch's softplus is the identity above 20.
    return torch.where(h > 20.0, 1.0, -torch.expm1(-h))


def check_hidden(hidden: object) -> tuple[int, ...]:
    """Validate ``hidden`` (an int or a sequence of positive ints)."""
    if isinstance(hidden, numbers.Integral) and not isinstance(hidden, bool):
        hidden = (hidden,)
    if isinstance(hidden, np.ndarray) and hidden.ndim == 1:  # e.g. from a parameter grid
        hidden = hidden.tolist()
    if not isinstance(hidden, Sequence) or isinstance(hidden, str):
        raise TypeError(f"hidden must be a tuple of layer widths such as (20,), got {hidden!r}")
    out = []
    for width in hidden:
        if isinstance(width, bool) or not isinstance(width, numbers.Integral) or width < 1:
            raise ValueError(f"hidden must hold positive integer widths, got {tuple(hidden)!r}")
        out.append(int(width))
    if not out:
        raise ValueError("hidden must have at least one hidden layer, e.g. hidden=(20,)")
    return tuple(out)


def check_activation(activation: object) -> str:
    """Validate the activation name."""
    if not isinstance(activation, str) or activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
    return str(activation)
