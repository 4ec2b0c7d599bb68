"""Pennington & Bahri (ICML 2017): H = H0 + H1 theory against the memorisation experiment.

Light package (no torch at import). Modules:

* :mod:`hessrmt.rmt.pennington_bahri` (the theory: density, index, eps_c, alpha0; pure NumPy);
* :mod:`.task`: the memorisation task (tanh network, Gaussian data, phi and loss conventions);
* :mod:`.critical_points`: ``find_critical_point`` (Levenberg-Marquardt on |grad L|^2 with exact
  float64 Hessians) and ``find_minimum``;
* :mod:`.pipeline`: ``run(config, out)``, ``quick_config``, ``full_config``, ``fit_power_law``;
* :mod:`.cli`: ``hessrmt reproduce pennington-bahri [--quick] [--out DIR] [--seed S]``.
"""
