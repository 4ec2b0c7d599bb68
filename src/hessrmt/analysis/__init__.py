"""The ``hessrmt analyze`` pipeline: from a model and data to an RMT verdict and an HTML report.

Usage::

    from hessrmt.analysis import analyze
    res = analyze(epochs=5, batch_hessians=2, out="runs/quick")   # or analyze() for the default
    res.summary["trained"]["verdict"], res.spectra["trained"], res.out

See :mod:`hessrmt.analysis.pipeline` for the steps and :class:`AnalysisConfig` for the settings.
"""

from __future__ import annotations

from typing import Any

from hessrmt.analysis.config import AnalysisConfig

__all__ = ["AnalysisConfig", "AnalysisResult", "analyze"]


def __getattr__(name: str) -> Any:  # lazy: the pipeline imports torch
    if name in ("analyze", "AnalysisResult"):
        from hessrmt.analysis import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module 'hessrmt.analysis' has no attribute {name!r}")
