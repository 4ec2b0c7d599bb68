"""Bad inputs across every command and the public API (issue 19): each case gives exit status 2
(or an InputError), exactly one line on stderr, no traceback, and leaves nothing behind.

The commands run in-process (``hessrmt.cli.main.main``) inside one prepared folder (see
``world.py``), whose listing is compared before and after each case; hostile pickles would create
``PWNED-*`` files if they were ever executed.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from hessrmt.cli.main import main
from hessrmt.errors import InputError

from . import world

A = ["analyze", "--quiet", "--epochs", "0", "--batch-hessians", "0", "--out", "o"]
STATS = ["stats", "--json"]
PB = ["theory", "pennington-bahri"]
APPL = ["reproduce", "applicability", "--quick", "--no-progress"]


def snapshot(root: Path) -> set[tuple[str, int]]:
    return {
        (str(p.relative_to(root)), p.stat().st_size if p.is_file() else -1)
        for p in root.rglob("*")
        if "__pycache__" not in p.parts
    }


@pytest.fixture(scope="module")
def w(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("badinput")
    world.build(root)
    return root


@pytest.fixture
def inside(w: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.chdir(w)
    monkeypatch.syspath_prepend(str(w))
    monkeypatch.delenv("HESSRMT_DEBUG", raising=False)
    before = snapshot(w)
    yield w
    assert snapshot(w) == before, "the case left something behind or changed a file"
    for name in world.PWNED:
        assert not (w / name).exists(), f"a data file executed code ({name})"


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own errors
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


# (id, argv, fragment of the one error line)
CLI_CASES: list[tuple[str, list[str], str]] = [
    # -- eigenvalue files (stats) ---------------------------------------------------------------
    ("stats-missing", [*STATS, "nope.npy"], "not found"),
    ("stats-directory", [*STATS, "dir.npy"], "directory"),
    ("stats-garbage", [*STATS, "garbage.npy"], "cannot read"),
    ("stats-empty-file", [*STATS, "empty.npy"], "empty"),
    ("stats-letters", [*STATS, "letters.txt"], "cannot parse"),
    ("stats-only-comments", [*STATS, "comments.txt"], "no numbers"),
    ("stats-ragged", [*STATS, "ragged.txt"], "cannot parse"),
    ("stats-nan", [*STATS, "nan.npy"], "finite"),
    ("stats-inf", [*STATS, "inf.npy"], "finite"),
    ("stats-too-few", [*STATS, "few.npy"], "eigenvalues"),
    ("stats-3d", [*STATS, "cube.npy"], "1-D"),
    ("stats-strings", [*STATS, "strings.npy"], "real numeric"),
    ("stats-object-array", [*STATS, "objects.npy"], "cannot read"),
    ("stats-pickle-named-npy", [*STATS, "hostile.npy"], "pickle"),
    ("stats-gzip-named-npy", [*STATS, "gz.npy"], "gzip"),
    ("stats-truncated-npz", [*STATS, "truncated.npz"], "cannot read"),
    ("stats-missing-key", [*STATS, "z.npz", "--key", "b"], "no array named"),
    ("stats-key-on-npy", [*STATS, "good.npy", "--key", "a"], ".npz files only"),
    ("stats-n-null-negative", [*STATS, "good.npy", "--n-null", "-1"], "--n-null must be"),
    ("stats-seed-negative", [*STATS, "good.npy", "--seed", "-1"], "--seed"),
    ("stats-seed-65-bits", [*STATS, "good.npy", "--seed", str(2**65)], "--seed"),
    # -- data sets (analyze) ----------------------------------------------------------------------
    ("data-unknown", [*A, "--data", "imagenet"], "unknown data set"),
    ("data-no-root", [*A, "--data", "mnist"], "--data-root"),
    ("data-root-missing", [*A, "--data", "mnist", "--data-root", "nowhere"], "does not exist"),
    ("data-root-is-file", [*A, "--data", "mnist", "--data-root", "a_file"], "not a folder"),
    ("mnist-missing-files", [*A, "--data", "mnist", "--data-root", "mnist-missing"], "find"),
    ("mnist-truncated", [*A, "--data", "mnist", "--data-root", "mnist-truncated"], "truncated"),
    ("mnist-gzip-damaged", [*A, "--data", "mnist", "--data-root", "mnist-gzip-damaged"], "gzip"),
    ("mnist-count-mismatch", [*A, "--data", "mnist", "--data-root", "mnist-count"], "labels"),
    ("mnist-labels-range", [*A, "--data", "mnist", "--data-root", "mnist-labels"], "0..9"),
    ("mnist-not-idx", [*A, "--data", "mnist", "--data-root", "mnist-not-idx"], "not an IDX"),
    ("fashion-mnist-missing", [*A, "--data", "fashion-mnist", "--data-root", "a_file"], "folder"),
    ("cifar-hostile-pickle", [*A, "--data", "cifar10", "--data-root", "cifar-hostile"], "pickle"),
    ("cifar-truncated", [*A, "--data", "cifar10", "--data-root", "cifar-truncated"], "pickle"),
    ("cifar-wrong-dict", [*A, "--data", "cifar10", "--data-root", "cifar-wrong-dict"], "CIFAR"),
    ("cifar-labels-range", [*A, "--data", "cifar10", "--data-root", "cifar-labels"], "0..9"),
    ("cifar-binary-size", [*A, "--data", "cifar10", "--data-root", "cifar-bin"], "3073"),
    ("cifar-missing", [*A, "--data", "cifar10", "--data-root", "mnist-ok"], "not found"),
    ("bike-non-numeric", [*A, "--data", "bike", "--data-root", "bike-text"], "'warm'"),
    ("bike-no-cnt", [*A, "--data", "bike", "--data-root", "bike-nocnt"], "cnt"),
    ("bike-binary", [*A, "--data", "bike", "--data-root", "bike-binary"], "not a text"),
    ("bike-missing", [*A, "--data", "bike", "--data-root", "mnist-ok"], "hour.csv"),
    ("n-samples-beyond-data", [*A, "--data", "wine", "--n-samples", "100000"], "exceeds"),
    ("n-samples-too-small", [*A, "--n-samples", "3"], "--n-samples must be"),
    ("batch-size-beyond-data", [*A, "--batch-hessians", "2", "--batch-size", "99999"], "exceeds"),
    (
        "batch-hessians-beyond-data",
        [*A, "--data", "wine", "--batch-hessians", "9", "--batch-size", "64"],
        "use --batch-hessians 2 or less",
    ),
    ("mse-on-classification", [*A, "--loss", "mse"], "classification"),
    ("ce-on-regression", [*A, "--data", "synthetic-regression", "--loss", "cross-entropy"], "mse"),
    ("unknown-loss", [*A, "--loss", "hinge"], "unknown loss"),
    # -- models -----------------------------------------------------------------------------------
    ("model-unknown", [*A, "--model", "resnet"], "unknown model"),
    ("model-bad-syntax", [*A, "--model", "a b"], "--model"),
    ("model-no-module", [*A, "--model", "no_such_module:f"], "cannot import"),
    ("model-no-function", [*A, "--model", "badinput_models:missing"], "no callable"),
    ("model-not-callable", [*A, "--model", "badinput_models:not_callable"], "no callable"),
    ("model-builder-raises", [*A, "--model", "badinput_models:raises"], "ValueError"),
    ("model-builder-exits", [*A, "--model", "badinput_models:exits"], "sys.exit"),
    ("model-import-exits", [*A, "--model", "badinput_exits_on_import:f"], "sys.exit"),
    ("model-wrong-outputs", [*A, "--model", "badinput_models:wrong_outputs"], "output"),
    ("model-wrong-inputs", [*A, "--model", "badinput_models:wrong_inputs"], "fails on inputs"),
    ("model-not-a-module", [*A, "--model", "badinput_models:not_a_module"], "not a torch"),
    ("lenet-on-tabular", [*A, "--model", "lenet", "--data", "wine"], "image inputs"),
    # -- checkpoints ------------------------------------------------------------------------------
    ("checkpoint-missing", [*A, "--checkpoint", "nope.pt"], "not found"),
    ("checkpoint-directory", [*A, "--checkpoint", "dir.npy"], "folder"),
    ("checkpoint-text", [*A, "--checkpoint", "junk.pt"], "cannot be read"),
    ("checkpoint-hostile-pickle", [*A, "--checkpoint", "hostile.pt"], "cannot be read"),
    ("checkpoint-not-state-dict", [*A, "--checkpoint", "list.pt"], "state_dict"),
    ("checkpoint-mismatch", [*A, "--checkpoint", "logreg.pt"], "does not match"),
    ("checkpoint-nan-weights", [*A, "--checkpoint", "nan.pt"], "non-finite"),
    # -- numbers -------------------------------------------------------------------------------
    ("seed-negative", [*A, "--seed", "-1"], "non-negative"),
    ("seed-beyond-64-bits", [*A, "--seed", str(2**64)], "--seed"),
    ("seed-not-a-number", [*A, "--seed", "abc"], "--seed"),
    ("epochs-negative", [*A, "--epochs", "-2"], "--epochs"),
    ("batch-size-zero", [*A, "--batch-size", "0"], "--batch-size must be"),
    ("zero-rtol-above-1", [*A, "--zero-rtol", "2"], "--zero-rtol"),
    ("zero-rtol-nan", [*A, "--zero-rtol", "nan"], "--zero-rtol"),
    ("slq-probes-zero", [*A, "--slq-probes", "0"], "--slq-probes"),
    ("lanczos-k-zero", [*A, "--lanczos-k", "0"], "--lanczos-k"),
    ("method-unknown", [*A, "--method", "eig"], "--method"),
    ("dtype-float16", [*A, "--dtype", "float16"], "--dtype"),
    ("device-unknown", [*A, "--device", "tpu9"], "--device"),
    ("theory-phi-zero", [*PB, "--phi", "0", "--eps", "0.1"], "--phi"),
    ("theory-phi-negative", [*PB, "--phi", "-1", "--eps", "0.1"], "--phi"),
    ("theory-phi-nan", [*PB, "--phi", "nan", "--eps", "0.1"], "--phi"),
    ("theory-phi-huge", [*PB, "--phi", "1e300", "--eps", "0.1"], "--phi"),
    ("theory-phi-tiny", [*PB, "--phi", "1e-300", "--eps", "0.1"], "--phi"),
    ("theory-eps-huge", [*PB, "--phi", "0.5", "--eps", "1e300"], "--eps"),
    ("theory-eps-tiny", [*PB, "--phi", "0.5", "--eps", "1e-300"], "--eps"),
    ("theory-eps-negative", [*PB, "--phi", "0.5", "--eps", "-0.1"], "--eps"),
    ("theory-eps-inf", [*PB, "--phi", "0.5", "--eps", "inf"], "--eps"),
    ("theory-phi-text", [*PB, "--phi", "half", "--eps", "0.1"], "--phi"),
    ("theory-grid-small", [*PB, "--phi", "0.5", "--eps", "0.1", "--grid", "2"], "--grid"),
    ("theory-grid-huge", [*PB, "--phi", "0.5", "--eps", "0.1", "--grid", "100000000"], "--grid"),
    # -- paths ---------------------------------------------------------------------------------
    ("out-is-cwd", [*A[:-2], "--out", "."], "current folder"),
    ("out-is-file", [*A[:-2], "--out", "a_file"], "not a folder"),
    ("out-under-file", [*A[:-2], "--out", "a_file/run"], "a_file"),
    ("out-foreign-folder", [*A[:-2], "--out", "thesis"], "did not create"),
    ("out-foreign-overwrite", [*A[:-2], "--out", "thesis", "--overwrite"], "never deletes"),
    ("out-finished-run", [*A[:-2], "--out", "finished"], "--overwrite"),
    ("out-other-settings", [*A[:-2], "--out", "other"], "--overwrite"),
    ("out-foreign-partial", [*A[:-2], "--out", "foreign", "--overwrite"], "did not create"),
    ("theory-plot-directory", [*PB, "--phi", "0.5", "--eps", "0.1", "--plot", "thesis"], "folder"),
    ("theory-plot-suffix", [*PB, "--phi", "0.5", "--eps", "0.1", "--plot", "x.bmp"], "type"),
    ("theory-plot-no-dir", [*PB, "--phi", "0.5", "--eps", "0.1", "--plot", "no/x.png"], "exist"),
    ("report-missing", ["report", "nowhere"], "not found"),
    ("report-empty-folder", ["report", "mnist-missing"], "summary.json"),
    ("report-temporary", ["report", "run-tmp"], "unfinished"),
    ("report-partial", ["report", ".other.partial"], "unfinished"),
    ("report-wrong-keys", ["report", "run-wrong-keys"], "lacks"),
    ("report-nan-spectrum", ["report", "run-nan"], "finite"),
    ("report-summary-not-dict", ["report", "run-bad-summary"], "summary"),
    ("report-no-spectra", ["report", "run-no-spectra"], "no spectra"),
    ("report-npz-is-text", ["report", "run-text-npz"], "cannot be read"),
    ("report-json-garbage", ["report", "run-json-garbage"], "cannot be read"),
    ("report-missing-npz", ["report", "run-missing-npz"], "spectrum.npz"),
    # -- reproductions -------------------------------------------------------------------------
    ("appl-data-root-missing", [*APPL, "--out", "o", "--data-root", "nowhere"], "data-root"),
    ("appl-seed-negative", [*APPL, "--out", "o", "--seed", "-1"], "--seed"),
    ("appl-seed-65-bits", [*APPL, "--out", "o", "--seed", str(2**65)], "--seed"),
    ("appl-threads-zero", [*APPL, "--out", "o", "--threads", "0"], "--threads"),
    ("appl-out-is-file", [*APPL, "--out", "a_file"], "not a folder"),
    ("appl-out-foreign", [*APPL, "--out", "thesis", "--overwrite"], "never deletes"),
    ("appl-out-finished", [*APPL, "--out", "finished"], "--overwrite"),
    ("pb-seed-negative", ["reproduce", "pennington-bahri", "--quick", "--seed", "-1"], "--seed"),
    ("pb-seed-65-bits", ["reproduce", "pennington-bahri", "--seed", str(2**65)], "--seed"),
    # -- command line ------------------------------------------------------------------------------
    ("no-command", [], "usage"),
    ("unknown-command", ["frobnicate"], "invalid choice"),
    ("unknown-option", ["analyze", "--frobnicate"], "unrecognized"),
    ("theory-missing-eps", [*PB, "--phi", "0.5"], "--eps"),
]


@pytest.mark.parametrize(
    ("argv", "fragment"), [c[1:] for c in CLI_CASES], ids=[c[0] for c in CLI_CASES]
)
def test_cli_bad_input(inside: Path, capsys: pytest.CaptureFixture[str], argv, fragment) -> None:  # type: ignore[no-untyped-def]
    code, out, err = run_cli(argv, capsys)
    assert code == 2, err
    assert out == ""
    assert "Traceback" not in err
    lines = err.splitlines()
    if argv == []:  # the bare command prints its help (several lines) and exits 2
        assert "usage" in err
        return
    assert len(lines) == 1, err
    assert lines[0].startswith("hessrmt"), lines[0]
    assert fragment in lines[0], lines[0]


def _api_cases(w: Path) -> list[tuple[str, Callable[[], object], str]]:
    from hessrmt.analysis import AnalysisConfig
    from hessrmt.data import load_dataset
    from hessrmt.nn.zoo import build_model, load_checkpoint
    from hessrmt.rmt.spectrum_io import load_spectrum
    from hessrmt.runfolder import RunFolder, fingerprint, limit_threads
    from hessrmt.validation import integer, real, restricted_loads, seed

    def enter(out: str, **kw: object) -> None:
        with RunFolder(out, kind="test", settings={}, **kw):  # type: ignore[arg-type]
            pass

    def threads(n: object) -> None:
        with limit_threads(n):  # type: ignore[arg-type]
            pass

    def mlp():  # type: ignore[no-untyped-def]
        return build_model("mlp", input_shape=(1, 8, 8), n_outputs=10)

    def ckpt(name: str) -> object:
        return load_checkpoint(mlp(), str(w / name))

    def data(name: str, root: str | None = None, **kw: object) -> object:
        return load_dataset(name, root=None if root is None else w / root, **kw)  # type: ignore[arg-type]

    wrong = "badinput_models:wrong_outputs"
    evil = b"cos\nsystem\n(S'true'\ntR."
    return [
        ("config-seed", lambda: AnalysisConfig(seed=-1), "non-negative"),
        ("config-seed-64", lambda: AnalysisConfig(seed=2**64), "--seed"),
        ("config-unknown-field", lambda: AnalysisConfig().replace(sed=1), "unknown"),
        ("config-dtype", lambda: AnalysisConfig(dtype="float16"), "--dtype"),
        ("dataset-name", lambda: data("nope"), "unknown data set"),
        ("dataset-root", lambda: data("mnist", "nowhere"), "does not exist"),
        ("dataset-cifar-hostile", lambda: data("cifar10", "cifar-hostile"), "pickle"),
        ("dataset-split-fraction", lambda: data("iris", test_fraction=1.5), "test_fraction"),
        ("spectrum-missing", lambda: load_spectrum(w / "nope.npy"), "not found"),
        ("spectrum-pickle", lambda: load_spectrum(w / "hostile.npy"), "pickle"),
        ("model-unknown", lambda: build_model("vgg", input_shape=(3,), n_outputs=2), "unknown"),
        ("model-wrong-out", lambda: build_model(wrong, input_shape=(64,), n_outputs=10), "output"),
        ("checkpoint-nan", lambda: ckpt("nan.pt"), "non-finite"),
        ("checkpoint-hostile", lambda: ckpt("hostile.pt"), "io.open"),
        ("runfolder-foreign", lambda: enter("thesis", overwrite=True), "never deletes"),
        ("runfolder-finished", lambda: enter("finished"), "--overwrite"),
        ("runfolder-root", lambda: enter("/"), "names no folder"),
        ("runfolder-kind", lambda: RunFolder("x", kind="../x"), "run kind"),
        ("fingerprint-object", lambda: fingerprint({"f": object()}), "JSON"),
        ("threads-zero", lambda: threads(0), "--threads"),
        ("validation-integer", lambda: integer(1.5, "--n"), "integer"),
        ("validation-real-nan", lambda: real(float("nan"), "--x"), "finite"),
        ("validation-seed-bool", lambda: seed(True), "integer"),
        ("restricted-unpickle", lambda: restricted_loads(evil, what="x"), "not loaded"),
    ]


API_IDS = [c[0] for c in _api_cases(Path("."))]


@pytest.mark.parametrize("case", API_IDS)
def test_api_bad_input(inside: Path, case: str) -> None:
    _, call, fragment = next(c for c in _api_cases(inside) if c[0] == case)
    with pytest.raises(InputError) as err:
        call()
    assert fragment in str(err.value)
    assert "\n" not in str(err.value)


def test_the_table_is_large_enough() -> None:
    assert len(CLI_CASES) + len(API_IDS) >= 80
    assert len({c[0] for c in CLI_CASES}) == len(CLI_CASES)


def test_concurrent_run_on_one_folder(inside: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from hessrmt.runfolder import RunFolder

    with RunFolder(inside / "busy", kind="analyze", settings={}):
        code, out, err = run_cli([*A[:-2], "--out", "busy"], capsys)
    assert code == 2 and out == "" and len(err.splitlines()) == 1
    assert "another hessrmt run" in err


# permission cases (also as root): tests/badinput/test_permissions.py


def test_pennington_bahri_out_at_a_file(inside: Path, capsys: pytest.CaptureFixture[str]) -> None:
    try:
        code, _, err = run_cli(
            ["reproduce", "pennington-bahri", "--quick", "--out", "a_file"], capsys
        )
    except OSError:
        pytest.fail("a traceback instead of one line")
    assert code == 2 and len(err.splitlines()) == 1 and "a_file" in err
