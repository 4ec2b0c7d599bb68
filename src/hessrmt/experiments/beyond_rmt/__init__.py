"""Reproduction of Granziol, "Beyond random matrix theory for deep networks" (arXiv 2006.07721;
``docs/reference/papers.md`` §3): limiting laws, family fits and the atom at zero (issue 13)."""
