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
COMMAND_MODULES = ("analyze", "stats", "theory", "reproduce", "fit")

#: sub-command -> the module under hessrmt.cli that registers it.
COMMANDS = {
    "analyze": "analyze",
    "report": "analyze",
    "stats": "stats",
    "theory": "theory",
    "reproduce": "reproduce",
    "fit": "fit",
}


#: optional package -> the pip extra that installs it (the core is the RMT layer alone)
EXTRAS = {"torch": "torch", "matplotlib": "report", "sklearn": "data"}


class _Parser(argparse.ArgumentParser):
    """ArgumentParser whose errors are one line on stderr and exit status 2."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: error: {message} (see --help)\n")
        raise SystemExit(2)


def _chosen_command(argv: Sequence[str]) -> str | None:
    """The sub-command named on the command line (first non-option word), if known."""
    for word in argv:
        if not word.startswith("-"):
            return word if word in COMMANDS else None
    return None


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The full parser, or (``only``) one holding just the module of that sub-command, so that a
    broken or slow module never stands in the way of another command."""
    parser = _Parser(
        prog="hessrmt",
        description="Hessian spectra of neural-network loss surfaces against random matrix theory.",
    )
    parser.add_argument("--version", action="version", version=f"hessrmt {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    modules = COMMAND_MODULES if only is None else (COMMANDS[only],)
    for name in modules:
        try:
            module = importlib.import_module(f"hessrmt.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"hessrmt.cli.{name}":
                continue  # command not built yet
            raise  # a real import error inside an existing module
        module.register(sub)
    return parser


def check_common(args: argparse.Namespace) -> None:
    """Options shared by several commands, checked once for all (:mod:`hessrmt.validation`):
    ``--seed`` in [0, 2^63 - 1], ``--threads`` >= 1, ``--n-null`` and ``--n-boot`` >= 0."""
    from hessrmt.validation import integer, seed

    if getattr(args, "seed", None) is not None:
        seed(args.seed)
    if getattr(args, "threads", None) is not None:
        integer(args.threads, "--threads", minimum=1, maximum=4096)
    for name in ("n_null", "n_boot"):  # named as on the command line, not as internally
        if getattr(args, name, None) is not None:
            integer(getattr(args, name), "--" + name.replace("_", "-"), minimum=0)


def main(argv: Sequence[str] | None = None) -> int:
    code = _main(argv)
    dist = sys.modules.get("hessrmt.analysis.distributed")
    if code != 0 and getattr(dist, "ABANDONED", False):
        # one rank of a failed torchrun job: skip interpreter teardown, whose destruction of the
        # broken process group can abort the process after the one-line error (exit -6)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def _main(argv: Sequence[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(_chosen_command(argv))
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        check_common(args)
        from hessrmt.allocator import tune_from_environment

        tune_from_environment()  # repeated products allocate alike: keep glibc's pages
        return int(handler(args) or 0)
    except HessrmtError as exc:
        if os.environ.get("HESSRMT_DEBUG"):
            raise
        msg = " ".join(str(exc).split())
        sys.stderr.write(f"hessrmt: error: {msg}\n")
        return 2
    except ModuleNotFoundError as exc:
        extra = EXTRAS.get((exc.name or "").split(".")[0])
        if extra is None or os.environ.get("HESSRMT_DEBUG"):
            raise
        sys.stderr.write(
            f"hessrmt: error: this command needs {exc.name}, which is not installed: "
            f"pip install 'hessrmt[{extra}]' (or 'hessrmt[all]')\n"
        )
        return 2
    except SystemExit as exc:  # hessrmt never exits inside a command: user code (--model) did
        sys.stderr.write(
            f"hessrmt: error: the command was stopped by sys.exit({exc.code!r}) in user code "
            "(a --model module?); nothing was written\n"
        )
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("hessrmt: interrupted; rerun the same command to resume\n")
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
