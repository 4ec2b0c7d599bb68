"""``hessrmt reproduce EXPERIMENT``: one-command reproductions of the papers.

Each experiment package in :mod:`hessrmt.experiments` has a light ``cli`` module (no torch at
import time), listed in :data:`EXPERIMENTS`, providing ``RUN_OPTIONS`` (the help texts and
defaults of the options every reproduction has, passed to :func:`add_run_arguments`),
``add_arguments(parser)`` (its description and its own options; a module without
``RUN_OPTIONS`` adds all its options there) and
``run_from_args(args) -> int``; the pipeline itself is imported only when run.
"""

from __future__ import annotations

import argparse
import importlib
from typing import Any

#: sub-command name -> (module, one-line help)
EXPERIMENTS = {
    "pennington-bahri": (
        "hessrmt.experiments.pennington_bahri.cli",
        "Pennington & Bahri (ICML 2017): H0 + H1 index vs energy, memorisation",
    ),
    "applicability": (
        "hessrmt.experiments.applicability.cli",
        "Baskerville, Granziol & Keating (arXiv 2102.06740): GOE statistics of network Hessians",
    ),
    "spin-glass": (
        "hessrmt.experiments.spin_glass.cli",
        "ABC / Choromanska spin-glass complexity: bands, laws, activations, p-spin descents, MLPs",
    ),
    "universal": (
        "hessrmt.experiments.universal.cli",
        "Baskerville et al. (arXiv 2205.08601): batch Hessian outliers, batch size, damping",
    ),
    "beyond-rmt": (
        "hessrmt.experiments.beyond_rmt.cli",
        "Granziol (arXiv 2006.07721): product / percolated laws, family fits, atoms at zero",
    ),
    "gan": (
        "hessrmt.experiments.gan.cli",
        "Baskerville, Keating, Mezzadri & Najnudel (arXiv 2101.02524): GAN spin-glass theory",
    ),
}


def add_run_arguments(
    parser: argparse.ArgumentParser,
    *,
    quick: str,
    out: str,
    overwrite: str,
    out_default: str | None = None,
    seed: str = "seed of everything (default 0)",
    data_root: str | None = None,
    threads: str | None = None,
    threads_default: int | None = None,
    progress: str | None = None,
    dir_metavar: bool = False,
) -> None:
    """Add the options every ``hessrmt reproduce`` command shares, with that command's help.

    Always ``--quick``, ``--out`` (default ``out_default``; None: the command's default folder
    with a timestamp), ``--seed`` (int,
    default 0) and ``--overwrite``; ``--data-root`` (default None) when ``data_root`` is given,
    ``--threads`` (int, default ``threads_default``) when ``threads`` is given, ``--no-progress``
    when ``progress`` is given. Each string is the option's help text; ``dir_metavar`` shows
    ``DIR`` for ``--out`` and ``--data-root``. Options the command adds itself come after these.
    """
    metavar: dict[str, Any] = {"metavar": "DIR"} if dir_metavar else {}
    parser.add_argument("--quick", action="store_true", help=quick)
    parser.add_argument("--out", default=out_default, help=out, **metavar)
    parser.add_argument("--seed", type=int, default=0, help=seed)
    if data_root is not None:
        parser.add_argument("--data-root", default=None, help=data_root, **metavar)
    if threads is not None:
        parser.add_argument("--threads", type=int, default=threads_default, help=threads)
    parser.add_argument("--overwrite", action="store_true", help=overwrite)
    if progress is not None:
        parser.add_argument("--no-progress", action="store_true", help=progress)


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("reproduce", help="reproduce a paper's experiments")
    exp = parser.add_subparsers(
        dest="experiment", metavar="EXPERIMENT", required=True, parser_class=type(parser)
    )
    for name, (module_name, help_text) in EXPERIMENTS.items():
        p = exp.add_parser(name, help=help_text)
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if not (exc.name and module_name.startswith(exc.name)):
                raise  # a real import error inside an existing module
            continue
        shared = getattr(module, "RUN_OPTIONS", None)  # None: add_arguments adds them all
        if shared is not None:
            add_run_arguments(p, **shared)
        module.add_arguments(p)
        p.set_defaults(handler=module.run_from_args)
