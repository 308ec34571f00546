"""The QDL application behind the ``qdl`` command: configs, training runs, reports.

* :mod:`qdl.app.config` — the validated run configuration;
* :mod:`qdl.app.runner` — train / resume / evaluate / predict with run directories;
* :mod:`qdl.app.report` — the efficiency report (quantum models vs classical baselines).
"""
