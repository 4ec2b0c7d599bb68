"""Entry point of the ``hessrmt`` command.

Each sub-command lives in its own module under :mod:`hessrmt.cli` and exposes
``register(subparsers)``, which adds its parser and sets ``handler`` (a function
``args -> int``) as a default. Heavy imports (torch, matplotlib) happen inside handlers, so
``hessrmt stats`` never imports torch.

Errors: a :class:`~hessrmt.errors.HessrmtError` (or a bad command line) is printed as one line
``hessrmt: error: ...`` on stderr with exit status 2, never a traceback. ``HESSRMT_DEBUG=1``
re-raises instead, for developers.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from hessrmt import __version__
from hessrmt.errors import HessrmtError

#: Modules under hessrmt.cli that provide sub-commands, in the order shown by --help.
COMMAND_MODULES = ("analyze", "stats", "theory", "reproduce")


class _Parser(argparse.ArgumentParser):
    """ArgumentParser whose errors are one line on stderr and exit status 2."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: error: {message} (see --help)\n")
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="hessrmt",
        description="Hessian spectra of neural-network loss surfaces against random matrix theory.",
    )
    parser.add_argument("--version", action="version", version=f"hessrmt {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"hessrmt.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"hessrmt.cli.{name}":
                continue  # command not built yet
            raise  # a real import error inside an existing module
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(handler(args) or 0)
    except HessrmtError as exc:
        if os.environ.get("HESSRMT_DEBUG"):
            raise
        msg = " ".join(str(exc).split())
        sys.stderr.write(f"hessrmt: error: {msg}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write(
            "hessrmt: interrupted; completed steps are checkpointed, rerun to resume\n"
        )
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
