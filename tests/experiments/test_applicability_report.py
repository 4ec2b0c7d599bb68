"""The applicability report's round-off sentences are computed from the spectra they describe."""

from types import SimpleNamespace

import numpy as np

from hessrmt.experiments.applicability.report import roundoff_sentences


def _model(f32_roundoff: float) -> SimpleNamespace:
    bulk = np.linspace(1.0, 2.0, 6)
    f64 = np.concatenate([np.zeros(4), bulk])  # 4 exact zeros of 10
    f32 = np.concatenate([np.full(4, f32_roundoff), bulk])  # zeros smeared by round-off
    return SimpleNamespace(
        key="logreg",
        spectra={
            "untrained/hessian/batch/float64": np.stack([f64, f64]),
            "untrained/hessian/batch/float32": np.stack([f32, f32]),
        },
    )


def test_sentences_follow_the_spectra() -> None:
    text = roundoff_sentences({"logreg": _model(1e-7)})
    assert (
        "in float64 40.0 % of the batch eigenvalues lie below 1e-12 max|λ| (40.0 % exactly 0)"
        in (text)
    )
    assert "in float32 0.0 % lie below 1e-12 max|λ| and 40.0 % in 1e-9…1e-5" in text
    # without round-off in float32 the sentence says so
    text = roundoff_sentences({"logreg": _model(0.0)})
    assert "in float32 40.0 % lie below 1e-12 max|λ| and 0.0 % in 1e-9…1e-5" in text
    # nothing to say without both precisions
    m = _model(1e-7)
    del m.spectra["untrained/hessian/batch/float32"]
    assert roundoff_sentences({"logreg": m}) == ""
