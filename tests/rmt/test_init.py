"""hessrmt.rmt's lazy re-exports resolve to the defining modules and never import torch."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import hessrmt.rmt as rmt


@pytest.mark.parametrize("name", rmt.__all__)
def test_every_export_resolves(name):
    module = importlib.import_module(f"hessrmt.rmt.{rmt._EXPORTS[name]}")
    assert getattr(rmt, name) is getattr(module, name)


def test_unknown_name():
    with pytest.raises(AttributeError):
        rmt.no_such_thing  # noqa: B018


def test_rmt_layer_does_not_import_torch():
    code = (
        "import sys, hessrmt.rmt as r\n"
        "for n in r.__all__: getattr(r, n)\n"
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
