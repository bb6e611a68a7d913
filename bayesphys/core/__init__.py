"""Shared abstractions every model family plugs into: priors, likelihoods, transforms, samplers,
results (the only ArviZ importer) and input validation."""
