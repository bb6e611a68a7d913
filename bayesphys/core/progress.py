"""Progress bars of the long runs (sampling, optimisation, walker and task loops)."""

from __future__ import annotations

from typing import Any

from tqdm.auto import tqdm


def progress_bar(total: int | None, desc: str, *, disable: bool = False, **options: Any) -> tqdm:
    """A tqdm bar that stays on screen on its own and disappears when nested under another.

    A run started from a script keeps its last line (final figures, e.g. the VMC energy); the
    same run inside ``bayesphys run`` sits below the study's steps bar, and leaving it there
    would stack finished bars under the one line that matters.

    Parameters
    ----------
    total : int or None
        Number of updates the run will make.
    desc : str
        Label in front of the bar.
    disable : bool
        Show nothing.
    **options
        Further tqdm options (``mininterval``, ``unit``, ...).
    """
    # leave=None: tqdm keeps the bar only when it sits at position 0 (no other bar open).
    return tqdm(total=total, desc=desc, disable=disable, leave=None, **options)
