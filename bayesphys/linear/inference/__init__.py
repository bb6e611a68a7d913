"""Linear-model inference methods, one module per method (``conjugate``, ``evidence``, ``map``,
``nuts``).

Each ``fit_*`` returns a :class:`~bayesphys.core.fit_result.FitResult`; its
``extras["predictive"]`` is what the fitted model knows about ``f(x)`` and the noise (a
:mod:`~bayesphys.linear.predictors` object) and ``extras["attributes"]`` the learned estimator
attributes beyond the common ones (``noise_``, ``coef_prior_scale_``).
"""
