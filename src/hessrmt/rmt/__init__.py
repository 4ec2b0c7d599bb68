"""Random matrix theory in pure NumPy/SciPy (this package never imports torch).

Conventions (stated in every docstring and recorded in every result):

* GOE/GUE/GSE ("normalised"): off-diagonal variance 1/N, so the semicircle has variance 1 and
  radius 2. Other scalings are available through explicit arguments.
* Marchenko-Pastur: W = X X^T / n with X of size p x n, ratio phi = p / n, mean eigenvalue 1,
  edges (1 +- sqrt(phi))^2, atom 1 - 1/phi at zero when phi > 1.
* Stieltjes transform G(z) = int rho(l) / (z - l) dl, G(z) ~ 1/z, Im G < 0 for Im z > 0.
* Spacing ratios r_i = s_{i+1} / s_i, reduced ratios r~_i = min(r_i, 1 / r_i).
* Samplers take ``rng`` (Generator, int seed or None) and are batch-first: shape (batch, N, ...).
"""
