"""Reference energies that the VMC tests reproduce, with their sources.

Energies in units of hbar*omega (atomic units for electrons with omega = 1); "band" entries are
the published VMC ranges for the given trial function, "exact"/"dmc" are ground-state values.
"""

REFERENCES = {
    # Non-interacting particles, exact Gaussian: E = d N omega / 2, zero variance.
    "free_gaussian": {"energy_per_particle_dim": 0.5, "source": "harmonic oscillator"},
    # Elliptical trap omega_z = gamma omega, gamma = 2.82843: E/N = (2 + gamma) / 2.
    "elliptic_free": {
        "gamma": 2.82843,
        "energy_per_particle": 2.414215,
        "source": "DuBois & Glyde, Phys. Rev. A 63, 023602 (2001)",
    },
    # Two electrons in 2-D, omega = 1: exact 3 (Taut, Phys. Rev. A 48, 3561 (1993)).
    "dot2_2d": {
        "exact": 3.0,
        "pade_band": (3.0003, 3.0005),
        "source": "Taut 1993; VMC band: M. Hjorth-Jensen, Computational Physics lecture notes",
    },
    # Two electrons in 3-D, omega = 1/2: exact 2 (Taut 1993).
    "dot2_3d": {"exact": 2.0, "pade_band": (2.0000, 2.0005), "source": "Taut 1993"},
    # Gaussian-binary RBM (psi = sqrt(F)), 2 electrons 2-D omega = 1, and RBM x Pade-Jastrow.
    "rbm_2d": {
        "rbm": 3.0803,
        "rbm_stderr": 0.0002,
        "rbm_pade_band": (3.000, 3.001),
        "source": "Nordhagen et al., Front. Phys. 11:1061580 (2023)",
    },
    # Closed-shell 2-D dots, omega = 1, Slater x Pade-Jastrow VMC and DMC.
    "dot6_2d": {"vmc": 20.19, "dmc": 20.15932, "source": "Pedersen Lohne et al., PRB 84 (2011)"},
    "dot12_2d": {"vmc_band": (65.70, 65.80), "dmc": 65.7001, "source": "Pedersen Lohne 2011"},
    # Hard-sphere bosons, a = 0.0043, elliptical trap gamma = 2.82843, N = 10.
    "bosons10": {"energy_per_particle": 2.44, "source": "DuBois & Glyde 2001 (VMC)"},
}
