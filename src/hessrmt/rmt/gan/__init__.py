"""The GAN spin-glass model of Baskerville, Keating, Mezzadri & Najnudel (arXiv 2101.02524).

Pure NumPy/SciPy: :mod:`.model` (Hessian model, sampler, exact moments), :mod:`.density`
(subordination density, support, atoms; the authors' quartic for comparison), :mod:`.checks`
(moments and simulated-null KS against sampled spectra), :mod:`.coulomb` (Coulomb-gas
log-determinant, Monte-Carlo finite-N trend), :mod:`.complexity` (constants, Theta(u_D, u_G),
thresholds, index bands, sweeps), :mod:`.batch` (the law for many parameter sets at once:
closed-form support edges and log-determinant through subordination).
Derivations: docs/reference/gan-spin-glass.md.
"""
