"""``hessrmt reproduce EXPERIMENT``: one-command reproductions of the papers.

Each experiment package in :mod:`hessrmt.experiments` has a light ``cli`` module (no torch at
import time), listed in :data:`EXPERIMENTS`, providing ``add_arguments(parser)`` and
``run_from_args(args) -> int``; the pipeline itself is imported only when run.
"""

from __future__ import annotations

import argparse
import importlib

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
        module.add_arguments(p)
        p.set_defaults(handler=module.run_from_args)
