"""Settings of the analyze pipeline: validation and the fingerprint that guards resumption."""

from __future__ import annotations

import pytest

from hessrmt.analysis.config import AnalysisConfig
from hessrmt.errors import InputError


def test_defaults_are_the_documented_default_run() -> None:
    cfg = AnalysisConfig()
    assert (cfg.model, cfg.data, cfg.dtype, cfg.method, cfg.batch_size) == (
        "mlp",
        "digits",
        "float64",
        "auto",
        64,
    )


@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [
        ("method", "eig", "--method"),
        ("dtype", "float16", "--dtype"),
        ("epochs", -1, "epochs"),
        ("batch_size", 0, "--batch-size"),
        ("n_samples", 3, "--n-samples"),
        ("lanczos_restarts", 0, "lanczos_restarts"),  # no command-line option: the field
        ("model", "not a model!", "--model"),
        ("zero_rtol", 2.0, "--zero-rtol"),
        ("slq_quadrature", "lobatto", "--slq-quadrature"),
    ],
)
def test_bad_settings_name_the_setting(field: str, value: object, fragment: str) -> None:
    with pytest.raises(InputError, match=fragment):
        AnalysisConfig(**{field: value})


def test_replace_rejects_unknown_settings() -> None:
    with pytest.raises(InputError, match="unknown analysis setting"):
        AnalysisConfig().replace(epoch=3)


def test_fingerprint_tracks_numbers_not_output() -> None:
    base = AnalysisConfig()
    assert base.fingerprint() == base.replace(out="elsewhere", progress=False).fingerprint()
    assert base.fingerprint() != base.replace(seed=1).fingerprint()
    assert base.fingerprint() != base.replace(epochs=base.epochs + 1).fingerprint()
    assert base.fingerprint() != base.replace(dtype="float32").fingerprint()


def test_dict_round_trip() -> None:
    cfg = AnalysisConfig(epochs=3, batch_hessians=2, out="x")
    assert AnalysisConfig.from_dict(cfg.to_dict()) == cfg


def test_a_setting_added_later_keeps_older_fingerprints_at_its_old_value() -> None:
    """slq_quadrature came after run folders existed: at "gauss" (what every run did before)
    it is not part of the numeric settings, so an older folder still resumes; "radau" is."""
    base = AnalysisConfig()
    assert "slq_quadrature" not in base.numeric_settings()
    radau = base.replace(slq_quadrature="radau")
    assert radau.numeric_settings()["slq_quadrature"] == "radau"
    assert radau.fingerprint() != base.fingerprint()


def test_the_quadrature_choices_are_slqs() -> None:
    """config.py cannot import the torch layer: its copy of slq's rules must match it."""
    from hessrmt.analysis.config import SLQ_QUADRATURES
    from hessrmt.curvature.krylov.stochastic_quadrature import QUADRATURES

    assert SLQ_QUADRATURES == QUADRATURES
