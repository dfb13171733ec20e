"""Running the study's jobs in-process, with submitit's local executor, and as a SLURM array."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from serlib.common.errors import SerlibError
from serlib.study.execution import JobSpec, make_executor, run_jobs, submit_jobs, submitit_parameters

TESTS_DIR = Path(__file__).resolve().parent
SLURM_SETTINGS = {"backend": "slurm", "partition": "gpu", "gpus_per_node": 1, "cpus_per_task": 8,
                  "timeout_min": 120, "mem_gb": 64, "array_parallelism": 2}


# Job functions: top level of this module, so submitit's workers can import them again.
def write_square(folder: str, number: int, label: str = "") -> int:
    """Write ``number`` squared (and the process id) to a file in ``folder``; return the square."""
    Path(folder, f"job{number}.txt").write_text(f"{label}{number * number} pid={os.getpid()}")
    return number * number


def fail_on_purpose(message: str) -> None:
    raise ValueError(message)


def refuse_input(path: str) -> None:
    raise SerlibError(f"{path} is not a manifest")


def square_jobs(folder: Path, numbers=(2, 3, 4)) -> list[JobSpec]:
    return [JobSpec(f"model{number} x corpus", write_square, (str(folder), number),
                    {"label": "sq="}) for number in numbers]


def test_local_backend_runs_in_this_process_in_order(tmp_path):
    assert run_jobs(square_jobs(tmp_path), None, tmp_path / "logs") == [4, 9, 16]
    assert run_jobs(square_jobs(tmp_path, (5,)), {"backend": "local"}, tmp_path / "logs") == [25]
    assert (tmp_path / "job3.txt").read_text() == f"sq=9 pid={os.getpid()}"
    assert not (tmp_path / "logs").exists()
    with pytest.raises(SerlibError, match=r"^job whisper-base x emodb: m.csv is not a manifest$"):
        run_jobs([JobSpec("whisper-base x emodb", refuse_input, ("m.csv",))], {}, tmp_path)


def test_unknown_backend_and_settings_are_explained(tmp_path):
    with pytest.raises(SerlibError, match="unknown execution backend 'pbs'.*local, submitit-local"):
        run_jobs(square_jobs(tmp_path), {"backend": "pbs"}, tmp_path)
    with pytest.raises(SerlibError, match="not accept:\nUnknown argument 'partition' for executor"):
        make_executor({"backend": "submitit-local", "partition": "gpu"}, tmp_path)


def test_slurm_settings_become_submitit_parameters():
    assert submitit_parameters(SLURM_SETTINGS, "slurm") == {
        "name": "serlib", "slurm_partition": "gpu", "gpus_per_node": 1, "cpus_per_task": 8,
        "timeout_min": 120, "mem_gb": 64, "slurm_array_parallelism": 2,
    }
    assert submitit_parameters({"slurm_qos": "high", "name": "ser"}, "slurm") == {
        "name": "ser", "slurm_qos": "high"}


def test_slurm_jobs_go_out_as_one_array_with_the_profile_settings(tmp_path, monkeypatch):
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    for tool, output in (("srun", ""), ("sbatch", "Submitted batch job 4242")):
        (fake_bin / tool).write_text(f"#!/bin/sh\necho '{output}'\n")
        (fake_bin / tool).chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake_bin}{os.pathsep}{os.environ['PATH']}")
    submitted = submit_jobs(square_jobs(tmp_path), SLURM_SETTINGS, tmp_path / "logs")
    assert [job.job_id for job in submitted] == ["4242_0", "4242_1", "4242_2"]
    script = (tmp_path / "logs" / "4242_submission.sh").read_text()
    for line in ("#SBATCH --array=0-2%2", "#SBATCH --partition=gpu", "#SBATCH --gpus-per-node=1",
                 "#SBATCH --cpus-per-task=8", "#SBATCH --mem=64GB", "#SBATCH --time=120",
                 "#SBATCH --job-name=serlib"):
        assert line in script.splitlines()


def test_slurm_backend_off_a_cluster_is_explained(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no srun
    with pytest.raises(SerlibError, match="cannot start here.*srun.*backend: local"):
        run_jobs(square_jobs(tmp_path), SLURM_SETTINGS, tmp_path / "logs")


def test_submitit_local_runs_jobs_in_subprocesses_and_names_failed_ones(tmp_path, monkeypatch):
    # The workers import this module to unpickle its job functions.
    python_path = os.pathsep.join([str(TESTS_DIR), os.environ.get("PYTHONPATH", "")])
    monkeypatch.setenv("PYTHONPATH", python_path)
    execution = {"backend": "submitit-local", "timeout_min": 5}
    jobs = square_jobs(tmp_path)
    jobs.insert(1, JobSpec("hubert-base x shemo", fail_on_purpose, ("no features for shemo",)))
    with pytest.raises(SerlibError) as failure:
        run_jobs(jobs, execution, tmp_path / "logs")
    message = str(failure.value)
    assert message.startswith("1 of 4 jobs failed:\njob hubert-base x shemo (submitit id ")
    assert "failed: ValueError: no features for shemo\n  stderr log: " in message
    stderr_log = Path(message.rsplit("stderr log: ", 1)[1])
    assert stderr_log.parent == tmp_path / "logs"
    assert "no features for shemo" in stderr_log.read_text()

    results = run_jobs(square_jobs(tmp_path), execution, tmp_path / "logs")
    assert results == [4, 9, 16]
    written = [(tmp_path / f"job{number}.txt").read_text() for number in (2, 3, 4)]
    assert [text.split()[0] for text in written] == ["sq=4", "sq=9", "sq=16"]
    assert all(f"pid={os.getpid()}" not in text for text in written)  # ran in other processes
