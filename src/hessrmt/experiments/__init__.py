"""Reproducible, seeded pipelines: one sub-package per paper, each with a light ``cli`` module."""
