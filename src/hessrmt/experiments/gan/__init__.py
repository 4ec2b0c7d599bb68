"""Reproduction of Baskerville, Keating, Mezzadri & Najnudel, "A spin-glass model for the loss
surfaces of generative adversarial networks" (arXiv 2101.02524): theory checks, thresholds and
sweeps (:mod:`.pipeline`), report (:mod:`.report`), command line (:mod:`.cli`)."""
