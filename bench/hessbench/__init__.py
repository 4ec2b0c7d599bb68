"""hessrmt's benchmark harness: the same tasks, models and data for hessrmt and the anchors.

Entry point: ``bench/run.py``. Modules: :mod:`hessbench.problems` (models and data),
:mod:`hessbench.anchors` (PyHessian, curvlinops, hessian-eigenthings adapters),
:mod:`hessbench.tasks` (the measurements), :mod:`hessbench.dense_worker` (dense Hessian in a
subprocess, for peak memory), :mod:`hessbench.timing`, :mod:`hessbench.report` (markdown).
"""
