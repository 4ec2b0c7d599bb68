"""Reproduction of Baskerville, Granziol & Keating, "Applicability of Random Matrix Theory in Deep
Learning" (arXiv:2102.06740): GOE local statistics of exact network Hessians, the Gaussian-process
model of the true loss, gradient decorrelation with distance, and exponential hardness.

Light package: importing it does not import torch. Modules:

* :mod:`.hardness` -- fit of ``a + b exp(c t)`` to the shipped ImageNet table (NumPy/SciPy);
* :mod:`.gp_toy` -- Gaussian-process Hessian toy model and its gradient-correlation prediction;
* :mod:`.statistics` -- degeneracy curves, ratio statistics, pooled unfolding, rank check;
* :mod:`.networks` -- the paper's networks on offline data and their exact Hessians (torch);
* :mod:`.decorrelation` -- gradient correlation against distance on a real network (torch);
* :mod:`.pipeline` / :mod:`.report` -- the ``hessrmt reproduce applicability`` run.
"""
