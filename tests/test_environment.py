"""results/<profile>/environment.json: the machine, libraries, code versions and stores of a run."""

from __future__ import annotations

import json
import re
import subprocess

import numpy
import pandas
import pytest
import scipy
import sklearn
import soundfile
import soxr
import torch
import transformers

import serlib
from serlib.common.errors import SerlibError
from serlib.features.extract import EXTRACTION_CODE_VERSION
from serlib.features.store import STORE_FORMAT_VERSION
from serlib.probing.train import TRAINING_CODE_VERSION
from serlib.study import environment
from serlib.study.config import load_config
from serlib.study.stores import feature_folder

MACHINE_PATHS = ("/work/", "/root/", "/home/", "/tmp/")


@pytest.fixture()
def config(tmp_path):
    profile = tmp_path / "p.yaml"
    profile.write_text(f"profile: p\nwork_dir: {tmp_path / 'work'}\nresults_dir: {tmp_path / 'results'}\n"
                       "corpora: [{id: synthetic-it, name: synthetic, language: it, root: somewhere}]\n"
                       "models: [random:wav2vec2-tiny, acoustic:mfcc]\n")
    return load_config(profile)


def test_the_record_names_versions_code_and_stores_and_no_machine_path(config, tmp_path):
    store = feature_folder(config, config.models[0], "synthetic-it")
    store.mkdir(parents=True)
    (store / "index.json").write_text(json.dumps({
        "complete": True, "dtype": "bfloat16", "device": "cpu", "cache_key": "0123456789abcdef" * 4,
        "manifest": str(tmp_path / "manifest.csv")}))
    path = environment.write_environment(config)
    assert path == tmp_path / "results" / "environment.json"
    text = path.read_text()
    record = json.loads(text)
    assert text == json.dumps(record, sort_keys=True, indent=2) + "\n"
    assert set(record) >= {"profile", "written_utc", "cpu", "torch", "python", "platform", "versions",
                           "code_versions", "feature_stores", "git"}
    assert record["profile"] == "p" and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", record["written_utc"])
    assert record["versions"] == {
        "torch": torch.__version__, "transformers": transformers.__version__, "numpy": numpy.__version__,
        "scipy": scipy.__version__, "pandas": pandas.__version__, "scikit-learn": sklearn.__version__,
        "soundfile": soundfile.__version__, "soxr": soxr.__version__, "serlib": serlib.__version__}
    assert record["code_versions"] == {"extraction_code_version": EXTRACTION_CODE_VERSION,
                                       "store_format_version": STORE_FORMAT_VERSION,
                                       "training_code_version": TRAINING_CODE_VERSION}
    assert record["feature_stores"] == {
        "random:wav2vec2-tiny x synthetic-it": {"dtype": "bfloat16", "device": "cpu", "cache_key": "0123456789ab"},
        "acoustic:mfcc x synthetic-it": {"missing": True}}
    assert record["torch"]["num_threads"] == torch.get_num_threads()
    assert record["torch"]["native_bf16"] == torch.cpu._is_avx512_bf16_supported()
    assert record["torch"]["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert record["torch"]["gpus"] == ([torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
                                       if torch.cuda.is_available() else [])
    assert set(record["cpu"]["numerics_flags"]) == set(environment.NUMERICS_FLAGS)
    assert all(isinstance(value, bool) for value in record["cpu"]["numerics_flags"].values())
    assert record["git"]["dirty"] in (True, False, None)
    assert record["git"]["commit"] is None or re.fullmatch(r"[0-9a-f]{40}", record["git"]["commit"])
    for machine_path in MACHINE_PATHS:
        assert machine_path not in text, machine_path
    assert str(tmp_path) not in text


def test_the_commit_and_dirty_flag_are_git_s(tmp_path):
    repository = tmp_path / "repo"
    repository.mkdir()
    run = lambda *args: subprocess.run(["git", *args], cwd=repository, check=True, capture_output=True)  # noqa: E731
    try:
        run("init", "-q")
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("git is not available")
    (repository / "a.txt").write_text("a")
    run("add", "a.txt")
    run("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "a")
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repository, capture_output=True, text=True).stdout.strip()
    assert environment.git_record(repository) == {"commit": head, "dirty": False}
    (repository / "results" / "demo").mkdir(parents=True)  # a rerun's outputs are not the code
    (repository / "results" / "demo" / "t.csv").write_text("x")
    assert environment.git_record(repository) == {"commit": head, "dirty": False}
    (repository / "a.txt").write_text("b")
    assert environment.git_record(repository) == {"commit": head, "dirty": True}


def test_without_git_or_a_repository_both_are_null(tmp_path, monkeypatch):
    assert environment.git_record(tmp_path) == {"commit": None, "dirty": None}  # not a repository

    def no_git(*args, **kwargs):
        raise FileNotFoundError("git")

    monkeypatch.setattr(environment.subprocess, "run", no_git)
    assert environment.git_record() == {"commit": None, "dirty": None}


def test_cpu_flags_come_from_cpuinfo(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: Example CPU 9000\nflags\t\t: fma sse2 avx2 amx_tile\n\n"
                       "processor\t: 1\nmodel name\t: Example CPU 9000\nflags\t\t: fma sse2 avx2 amx_tile\n")
    record = environment.cpu_record(cpuinfo)
    assert record["model"] == "Example CPU 9000"
    assert record["flags"] == ["amx_tile", "avx2", "fma", "sse2"]
    assert record["numerics_flags"] == {"avx2": True, "avx512f": False, "avx512_bf16": False,
                                        "amx_tile": True, "amx_bf16": False, "fma": True}
    assert environment.cpu_record(tmp_path / "absent")["flags"] == []


def test_a_broken_record_names_the_file(tmp_path):
    assert environment.read_environment(tmp_path) is None
    (tmp_path / "environment.json").write_text("{not json")
    with pytest.raises(SerlibError, match="environment.json is not valid JSON"):
        environment.read_environment(tmp_path)
