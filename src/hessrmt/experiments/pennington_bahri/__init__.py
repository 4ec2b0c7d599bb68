"""Pennington & Bahri (ICML 2017): H = H0 + H1 theory against the memorisation experiment.

Light package (no torch at import): the theory lives in :mod:`hessrmt.rmt.pennington_bahri`, the
critical-point finder in :mod:`.critical_points`, the task in :mod:`.task`, the pipeline in
:mod:`.pipeline` and the ``hessrmt reproduce pennington-bahri`` command in :mod:`.cli`.
"""
