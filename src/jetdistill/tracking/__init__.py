"""Tracking: the one place that talks to MLflow (:mod:`.store`), plus URI handling and a
store probe that run before MLflow is imported (:mod:`.uris`, :mod:`.probe`).

Kept free of imports so that ``jetdistill.tracking.probe`` stays cheap.
"""
