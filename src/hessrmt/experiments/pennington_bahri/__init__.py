"""Pennington & Bahri (ICML 2017): H = H0 + H1 theory against the memorisation experiment.

Light package (no torch at import). Modules:

* :mod:`hessrmt.rmt.pennington_bahri` (the theory: density, index, eps_c, alpha0, the index of
  a measured H0 free-plus a semicircle; pure NumPy);
* :mod:`.task`: the memorisation task (tanh network, Gaussian data, phi and loss conventions,
  weight decay, saturation);
* :mod:`.critical_points`: ``find_critical_point`` (Levenberg-Marquardt on |grad L|^2 with exact
  float64 Hessians) and ``find_minimum``;
* :mod:`.config`: ``Config``, ``quick_config``, ``full_config``, the plan of searches;
* :mod:`.search`: one search and the spectra at its point (``PointRecord``);
* :mod:`.powerlaw`: ``fit_power_law`` (shifted power laws, intervals, test of an exponent);
* :mod:`.summary`, :mod:`.conclusions`: ``summary.json`` and the report's computed statements;
* :mod:`.autoencoder`: the ReLU autoencoder's H0 / H1 spectra against MP and the semicircle;
* :mod:`.runtime`, :mod:`.figures`, :mod:`.report`: duration, figures, HTML;
* :mod:`.pipeline`: ``run(config, out)`` (orchestration on :mod:`hessrmt.runfolder`);
* :mod:`.cli`: ``hessrmt reproduce pennington-bahri [--quick] [--out DIR] [--seed S] ...``.
"""
