"""Every ``hessrmt reproduce X`` still lists its options, with its own help and defaults, now
that the shared ones come from one helper (:func:`hessrmt.cli.reproduce.add_run_arguments`)."""

from __future__ import annotations

import argparse
import importlib

import pytest

from hessrmt.cli.main import build_parser
from hessrmt.cli.reproduce import EXPERIMENTS, add_run_arguments

#: Every option of each command (the shared ones and its own), as before the helper.
OPTIONS = {
    "applicability": ["--quick", "--out", "--seed", "--data-root", "--threads", "--overwrite",
                      "--no-progress", "--models", "--max-batches"],
    "beyond-rmt": ["--quick", "--out", "--seed", "--data-root", "--threads", "--overwrite",
                   "--no-progress"],
    "gan": ["--quick", "--out", "--seed", "--overwrite", "--data-root", "--no-progress"],
    "pennington-bahri": ["--quick", "--out", "--overwrite", "--seed", "--starts",
                         "--variant-starts", "--weight-decay", "--width", "--max-iter",
                         "--data-root", "--no-autoencoder", "--no-progress"],
    "spin-glass": ["--quick", "--out", "--seed", "--overwrite", "--threads"],
    "universal": ["--quick", "--out", "--data-root", "--mnist5k", "--seed", "--threads",
                  "--overwrite", "--no-progress"],
}  # fmt: skip

_HELP_KEYS = {
    "quick": "--quick",
    "out": "--out",
    "seed": "--seed",
    "overwrite": "--overwrite",
    "data_root": "--data-root",
    "threads": "--threads",
    "progress": "--no-progress",
}


def _squash(text: str) -> str:
    return "".join(text.split())  # argparse re-wraps help text (also at hyphens)


@pytest.mark.parametrize("name", sorted(OPTIONS))
def test_help_lists_each_option_with_its_help(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert set(OPTIONS) <= set(EXPERIMENTS)
    with pytest.raises(SystemExit) as exc:
        build_parser("reproduce").parse_args(["reproduce", name, "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    listed = {w.rstrip(",") for w in out.split() if w.startswith("--")}
    assert listed == {*OPTIONS[name], "--help"}
    spec = importlib.import_module(EXPERIMENTS[name][0]).RUN_OPTIONS
    for key, option in _HELP_KEYS.items():
        if key in spec:
            assert option in OPTIONS[name]
            assert _squash(spec[key]) in _squash(out), (name, option)


@pytest.mark.parametrize("name", sorted(OPTIONS))
def test_defaults_per_command(name: str) -> None:
    args = build_parser("reproduce").parse_args(["reproduce", name])
    spec = importlib.import_module(EXPERIMENTS[name][0]).RUN_OPTIONS
    assert args.quick is False and args.overwrite is False and args.seed == 0
    assert args.out == spec.get("out_default")
    if "--threads" in OPTIONS[name]:
        assert args.threads == spec.get("threads_default")
    if "--data-root" in OPTIONS[name]:
        assert args.data_root is None
    if "--no-progress" in OPTIONS[name]:
        assert args.no_progress is False
    # the two defaults that are not None stayed what they were
    assert (name, args.out) != ("applicability", None)
    assert name != "spin-glass" or args.threads == 1


def test_helper_adds_only_what_it_is_given() -> None:
    p = argparse.ArgumentParser()
    add_run_arguments(p, quick="q", out="o", overwrite="w")
    names = {s for a in p._actions for s in a.option_strings}
    assert names == {"-h", "--help", "--quick", "--out", "--seed", "--overwrite"}
    p = argparse.ArgumentParser()
    add_run_arguments(
        p, quick="q", out="o", overwrite="w", data_root="d", threads="t", threads_default=3,
        progress="p", out_default="x", dir_metavar=True,
    )  # fmt: skip
    args = p.parse_args(["--seed", "5"])
    assert (args.seed, args.threads, args.out, args.data_root) == (5, 3, "x", None)
    assert "--out DIR" in p.format_help() and "--data-root DIR" in p.format_help()
