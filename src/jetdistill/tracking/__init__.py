"""Tracking: everything that talks to MLflow, split by concern.

- :mod:`.config`   ``TrackingConfig`` (``config["tracking"]``, paths resolved) and env names
- :mod:`.uris`     credentials in URIs: masked wherever they are logged or stored
- :mod:`.probe`    is the store there? one bounded check, before MLflow is imported
- :mod:`.deadline` one call bounded in total time (a slow server fails like a silent one)
- :mod:`.store`    the MLflow boundary (the only module importing MLflow) and the store set-up
- :mod:`.tags`     the tag names runs carry and the invocation id (imported by all below)
- :mod:`.parents`  the invocation's parent run, its file lock and orphan clean-up
- :mod:`.runs`     a job's run: ``JobRun``, ``job_run`` and param serialisation
- :mod:`.query`    search and read-back

Kept free of imports so that ``jetdistill.tracking.probe`` stays cheap.
"""
