"""One function per Snakemake rule, grouped like the rule files: load the declared inputs,
call the library, track the run, write the outputs last and atomically.

- :mod:`.context`     the job's view of ``snakemake`` and what every job shares
- :mod:`.invocation`  the tracking store and the invocation's parent run
- :mod:`.teachers`    ``train_teacher``, ``compute_soft_targets``
- :mod:`.students`    ``train_student_solo``, ``distill_student`` (and the fraction rules)
- :mod:`.compression` ``train_qat``
- :mod:`.fpga`        ``convert_hls``, ``estimate_rtl``, ``convert_hls_float``
- :mod:`.reports`     ``compare_students``, ``plot_frontier``, ``summarize``, ``plot_learning_curve``

The data rules call :mod:`jetdistill.data` directly (no tracking). Jobs hold no algorithm
code: a job reads, calls one or two library functions and writes. Outputs are written last
and atomically, after the MLflow run has everything, so a killed job never leaves a file
Snakemake takes as done.
"""
