"""Kac-Rice complexity of spherical spin glasses and its random-matrix ingredients.

Pure NumPy/SciPy.

* :mod:`~hessrmt.rmt.complexity.abc` -- Auffinger-Ben Arous-Cerny in closed form: E_inf, I_1,
  Theta_{k,p}, Theta_p, the thresholds E_k.
* :mod:`~hessrmt.rmt.complexity.kac_rice` -- ABC's finite-N identity, evaluated by sampling GOE
  spectra (tridiagonal model); :mod:`~hessrmt.rmt.complexity.kac_rice_tilted` -- its importance
  sampler inside the band (k >= 1).
* :mod:`~hessrmt.rmt.complexity.coulomb` -- int ln|y - l| dmu(l) and the edge large-deviation rate
  of any :class:`~hessrmt.rmt.law.SpectralLaw`; the one Coulomb-gas module (the GAN spin glass's
  log-determinant uses its ``interval_log_potential``).
* :mod:`~hessrmt.rmt.complexity.general` -- the complexity and bands with any limiting law.
* :mod:`~hessrmt.rmt.complexity.spiked` -- GOE plus a deterministic rank-r perturbation.
* :mod:`~hessrmt.rmt.complexity.activations` -- activation -> perturbation strength.

Derivations and conventions: ``docs/reference/spin-glass.md``.
"""
