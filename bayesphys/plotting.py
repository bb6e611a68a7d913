"""One figure style for every bayesphys figure (case studies, ``bma.plots``, diagnostics).

:func:`style` applies the shared rcParams (:data:`RC`) as a context manager or as a decorator of
a figure function; the whole drawing happens inside it, because matplotlib reads font sizes when
an artist is created and the layout engine when a figure is. :func:`save` writes the figure::

    @plotting.style()
    def plot_something(path, data):
        fig, ax = plt.subplots()
        ...
        plotting.save(fig, path)
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

#: Resolution of every saved figure, dots per inch.
DPI = 120

#: The shared rcParams. Constrained layout places titles, labels, legends and colour bars
#: without overlaps, so figure functions never call ``tight_layout``.
RC = {
    "figure.dpi": DPI,
    "savefig.dpi": DPI,
    "savefig.bbox": "tight",
    "figure.constrained_layout.use": True,
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "legend.fontsize": 8,
    "legend.frameon": False,
    "figure.titlesize": 11,
    "axes.grid": False,
    "image.cmap": "viridis",
}


@contextlib.contextmanager
def style() -> Iterator[None]:
    """Apply the shared style (:data:`RC`) inside a ``with`` block or a decorated function."""
    import matplotlib as mpl

    with mpl.rc_context(RC):
        yield


def save(fig, path: str | os.PathLike[str], dpi: int | None = None) -> Path:
    """Save ``fig`` at the shared resolution (or ``dpi``), close it and return the path."""
    import matplotlib.pyplot as plt

    path = Path(path)
    with style():
        fig.savefig(path, dpi=dpi or DPI, bbox_inches="tight")
    plt.close(fig)
    return path
