"""The GAN spin-glass model of Baskerville, Keating, Mezzadri & Najnudel (arXiv 2101.02524).

Pure NumPy/SciPy. :mod:`.model` (Hessian model, sampler, exact moments), :mod:`.density`
(subordination density, support, atoms; the authors' quartic for comparison).
"""
