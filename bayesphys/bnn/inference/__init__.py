"""BNN inference methods, one module per method (``hmc``, ``nuts``, ``sghmc``, ``vi``).

Each returns a :class:`~bayesphys.core.fit_result.FitResult` whose ``unconstrained`` holds the
draws ``(chains, draws, dim)`` in the flat layout of :class:`~bayesphys.bnn.posterior.Posterior`.
``groups`` is the chain-group task that :func:`~bayesphys.core.chains.run_groups` runs and
the rule that joins the groups' results; ``warm_start`` and ``minibatch`` are shared by the
methods.
"""
