"""The command's error contract: one line on stderr and exit status 2, never a traceback."""

from __future__ import annotations

import subprocess
import sys

from hessrmt.cli.main import main


def test_unknown_command_is_one_line(capsys):
    try:
        code = main(["no-such-command"])
    except SystemExit as exc:
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "error" in err


def test_no_command_prints_help_and_exits_2(capsys):
    assert main([]) == 2
    assert "usage" in capsys.readouterr().err


def test_python_dash_m_and_version():
    out = subprocess.run(
        [sys.executable, "-m", "hessrmt", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.startswith("hessrmt ")


def test_only_the_chosen_command_module_is_imported(monkeypatch):
    import importlib

    from hessrmt.cli import main as cli_main

    seen = []
    real = importlib.import_module

    def spy(name, *args, **kwargs):
        seen.append(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(cli_main.importlib, "import_module", spy)
    cli_main.build_parser(cli_main._chosen_command(["stats", "x.npy"]))
    assert [n for n in seen if n.startswith("hessrmt.cli.")] == ["hessrmt.cli.stats"]
    assert cli_main._chosen_command(["--version"]) is None
