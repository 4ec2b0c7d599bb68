"""hessrmt: Hessian spectra of neural-network loss surfaces, tested against random matrix theory.

Layers (imports only point down):

* :mod:`hessrmt.rmt` -- pure NumPy/SciPy random matrix theory (never imports torch);
* :mod:`hessrmt.curvature` -- PyTorch curvature operators, dense matrices, Lanczos, SLQ, traces;
* :mod:`hessrmt.experiments` -- one reproducible, seeded pipeline per paper;
* :mod:`hessrmt.report` and :mod:`hessrmt.cli` -- figures, HTML reports, the ``hessrmt`` command.

``pip install hessrmt`` installs the RMT layer alone (NumPy, SciPy, tqdm, threadpoolctl;
``import hessrmt`` and ``import hessrmt.rmt`` never import torch, matplotlib or scikit-learn);
the extras ``torch``, ``report`` (matplotlib), ``data`` (scikit-learn) and ``all`` add the rest.

Shared foundations with no heavy imports: :mod:`hessrmt.errors`, :mod:`hessrmt.rng`,
:mod:`hessrmt.io`, :mod:`hessrmt.results`.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
