"""Where the study's jobs run: in-process, or as a job array through ``submitit``.

A job is one unit of the study's work (typically one model x corpus extraction or probe run),
described by a :class:`JobSpec`. :func:`run_jobs` runs a list of them under the profile's
``execution:`` section and returns their results in order:

- ``{backend: local}`` (the default, also for an empty section): a plain loop in this process;
- ``{backend: submitit-local, ...}``: ``submitit``'s local executor, one subprocess per job on
  this machine (for testing the cluster path without a cluster);
- ``{backend: slurm, partition: gpu, gpus_per_node: 1, cpus_per_task: 8, timeout_min: 120,
  mem_gb: 64, array_parallelism: 16, ...}``: ``submitit.AutoExecutor(cluster="slurm")``, all
  jobs submitted as one SLURM job array. submitit's generic settings (``timeout_min``,
  ``mem_gb``, ``gpus_per_node``, ``cpus_per_task``, ``nodes``, ``tasks_per_node``, ``name``,
  ``stderr_to_stdout``) pass as they are; every other key is a SLURM setting of submitit's
  ``slurm_*`` family (``partition``, ``array_parallelism``, ``account``, ``qos``,
  ``constraint``, ``exclude``, ...); a key may also be written with its ``slurm_`` prefix.

Jobs run the same functions with the same arguments whatever the backend, so they read and
write the same caches and results layout. For the submitit backends, a job's function and
arguments are pickled and the worker imports the function again: use top-level functions of an
importable module (``serlib.study``'s stage functions, say), not lambdas or functions defined
in a notebook, and plain picklable arguments (paths, strings, numbers, dataclasses). On SLURM,
the workers use this Python interpreter (``sys.executable``) and must see the same file system.
Logs of each job (``stdout``/``stderr`` and submitit's pickles) go under ``log_folder``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from serlib.common.errors import SerlibError

BACKENDS = ("local", "submitit-local", "slurm")
#: submitit's cluster name for each submitit backend.
SUBMITIT_CLUSTERS = {"submitit-local": "local", "slurm": "slurm"}
#: Settings submitit's AutoExecutor takes without a cluster prefix.
GENERIC_SETTINGS = ("name", "timeout_min", "mem_gb", "nodes", "cpus_per_task", "gpus_per_node",
                    "tasks_per_node", "stderr_to_stdout")
DEFAULT_JOB_NAME = "serlib"
SUBMITIT_RULE = "-" * 22


@dataclass(frozen=True)
class JobSpec:
    """One job: ``function(*args, **kwargs)``, named for messages (e.g. ``whisper-base x emodb``).

    ``function`` must be a top-level function of an importable module (see the module docstring).
    """

    name: str
    function: Callable[..., Any]
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)


def backend_of(execution: Mapping[str, Any] | None) -> str:
    """The profile's backend (``local`` when the section or its ``backend`` key is absent)."""
    backend = (execution or {}).get("backend", "local")
    if backend not in BACKENDS:
        raise SerlibError(
            f"unknown execution backend {backend!r} in the profile's execution: section; "
            f"use one of {', '.join(BACKENDS)}"
        )
    return backend


def submitit_parameters(execution: Mapping[str, Any], cluster: str) -> dict[str, Any]:
    """The ``execution:`` settings (less ``backend``) as AutoExecutor.update_parameters keys."""
    parameters: dict[str, Any] = {"name": DEFAULT_JOB_NAME}
    for key, value in execution.items():
        if key == "backend":
            continue
        if key in GENERIC_SETTINGS or key.startswith(f"{cluster}_"):
            parameters[key] = value
        else:
            parameters[f"{cluster}_{key}"] = value
    return parameters


def make_executor(execution: Mapping[str, Any], log_folder: str | Path):
    """A configured ``submitit.AutoExecutor`` for a submitit backend; SerlibError if impossible."""
    import submitit

    backend = backend_of(execution)
    if backend not in SUBMITIT_CLUSTERS:
        raise SerlibError(f"execution backend {backend!r} runs in-process; it has no executor")
    cluster = SUBMITIT_CLUSTERS[backend]
    try:
        executor = submitit.AutoExecutor(folder=Path(log_folder), cluster=cluster)
    except RuntimeError as error:  # submitit's check for srun
        raise SerlibError(
            f"execution backend {backend!r} cannot start here ({error}); run the study on the "
            "cluster's login node, or set `backend: local` in the profile's execution: section"
        ) from None
    try:
        executor.update_parameters(**submitit_parameters(execution, cluster))
    except (NameError, AssertionError, ValueError) as error:
        raise SerlibError(
            f"the profile's execution: section has a setting submitit's {cluster} executor does "
            f"not accept:\n{error}"
        ) from None
    return executor


def _run_in_process(jobs: Sequence[JobSpec]) -> list[Any]:
    results = []
    for job in jobs:
        try:
            results.append(job.function(*job.args, **job.kwargs))
        except SerlibError as error:
            raise SerlibError(f"job {job.name}: {error}") from error
    return results


def _failure_line(job_spec: JobSpec, job, error: Exception) -> str:
    """One failed job: its name, its error's last line and its stderr log."""
    text = str(error)
    # submitit's FailedJobError puts the worker's traceback between two dashed rules
    sections = text.split(SUBMITIT_RULE)
    trace = sections[1] if len(sections) >= 3 else text
    lines = [line for line in trace.strip().splitlines() if line.strip()]
    cause = lines[-1].strip() if lines else type(error).__name__
    return (f"job {job_spec.name} (submitit id {job.job_id}) failed: {cause}\n"
            f"  stderr log: {job.paths.stderr}")


def submit_jobs(jobs: Sequence[JobSpec], execution: Mapping[str, Any],
                log_folder: str | Path) -> list:
    """Submit ``jobs`` as one job array of a submitit backend; the ``submitit.Job`` handles."""
    executor = make_executor(execution, log_folder)
    with executor.batch():
        return [executor.submit(job.function, *job.args, **job.kwargs) for job in jobs]


def gather_results(jobs: Sequence[JobSpec], submitted: Sequence) -> list[Any]:
    """Wait for every submitted job; their results, or one SerlibError naming all failures.

    Interrupting the wait (Ctrl-C) cancels the jobs that are still queued or running.
    """
    try:
        errors = [job.exception() for job in submitted]  # waits for every job
    except KeyboardInterrupt:
        for job in submitted:
            job.cancel(check=False)
        raise
    failures = [_failure_line(spec, job, error)
                for spec, job, error in zip(jobs, submitted, errors) if error is not None]
    if failures:
        raise SerlibError(f"{len(failures)} of {len(jobs)} jobs failed:\n" + "\n".join(failures))
    return [job.result() for job in submitted]


def run_jobs(jobs: Sequence[JobSpec], execution: Mapping[str, Any] | None,
             log_folder: str | Path) -> list[Any]:
    """Run ``jobs`` under the profile's ``execution:`` settings; their results, in order.

    In-process (``local``), a job's SerlibError is raised again with the job's name in front.
    Under submitit, all jobs are submitted as one array and awaited; if any failed, a
    SerlibError names each failed job, its error and the path of its stderr log.
    """
    if not jobs:
        return []
    backend = backend_of(execution)
    if backend == "local":
        return _run_in_process(jobs)
    return gather_results(jobs, submit_jobs(jobs, execution or {}, log_folder))


__all__ = ["BACKENDS", "JobSpec", "backend_of", "gather_results", "make_executor", "run_jobs",
           "submit_jobs", "submitit_parameters"]
