"""A deterministic Ctrl-C for interrupt tests."""


def interrupt_at(monkeypatch, cls, name: str, k: int) -> dict:
    """Make ``cls.<name>`` raise KeyboardInterrupt (as Ctrl-C would) at its k-th call.

    ``k = 0`` never raises: the returned counter (``{"n": calls so far}``) then only counts.
    """
    original = getattr(cls, name)
    calls = {"n": 0}

    def patched(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == k:
            raise KeyboardInterrupt
        return original(self, *args, **kwargs)

    monkeypatch.setattr(cls, name, patched)
    return calls
