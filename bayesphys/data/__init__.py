"""Physics data shipped with bayesphys (no network at run time).

``bayesphys.data.masses``: Atomic Mass Evaluations 2003/2012/2020, theoretical mass models,
separation energies and Q values. See ``docs/data.md``.
"""

from bayesphys.data.masses import (
    MODEL_INFO,
    DataCoverageWarning,
    available_models,
    binding_energy,
    load_ame,
    load_model,
    load_model_table,
    new_measurements,
    separation_energy,
)

__all__ = [
    "MODEL_INFO",
    "DataCoverageWarning",
    "available_models",
    "binding_energy",
    "load_ame",
    "load_model",
    "load_model_table",
    "new_measurements",
    "separation_energy",
]
