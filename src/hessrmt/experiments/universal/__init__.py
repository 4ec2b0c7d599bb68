"""Reproduction of Baskerville, Keating, Mezzadri, Najnudel & Granziol, "Universal characteristics
of deep neural network loss surfaces from random matrix theory" (arXiv 2205.08601): batch Hessians
as H_b = A + s(b) X, outliers by subordination, and the local law's effective damping.

Modules: :mod:`.synthetic` (the known-answer check), :mod:`.networks` (real Hessians),
:mod:`.damping` (damped Newton with naive and local-law damping), :mod:`.pipeline` (run
folder), :mod:`.report`.
"""
