"""The GP's inference methods, one module each: :mod:`~bayesphys.gp.inference.map`,
:mod:`~bayesphys.gp.inference.nuts`, :mod:`~bayesphys.gp.inference.sgpr` and
:mod:`~bayesphys.gp.inference.svgp`.

Each has ``fit(model, rng, method, ...)`` returning a
:class:`~bayesphys.core.fit_result.FitResult` (see :mod:`bayesphys.gp.inference.result` for
its GP ``extras``). Next to them: the MAP objective (``map_objective``), the NUTS target
(``nuts_target``) and the L-BFGS-B loop they share (``optimizer``).
"""
