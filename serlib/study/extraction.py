"""Notebook 02: the feature store of every model x corpus of the profile."""

from __future__ import annotations

import gc
from pathlib import Path

import pandas as pd

from serlib.common.errors import SerlibError
from serlib.common.memory import PeakMemory
from serlib.study.config import ModelSpec, StudyConfig
from serlib.study.execution import JobSpec, run_jobs
from serlib.study.prepare import PreparedCorpus


def feature_folder(config: StudyConfig, model: ModelSpec, corpus_id: str) -> Path:
    """Where the feature store of ``model`` on ``corpus_id`` lives."""
    from serlib.features.store import store_folder

    return store_folder(config.feature_dir, model.model_id, corpus_id)


class LastModel:
    """A model loader that keeps the model it loaded last.

    The runs of one model over the profile's corpora come in a row, so the model is loaded
    once for all of them (a large random-init model takes seconds to build, a pretrained one to
    read). Only one model is held at a time; :meth:`clear` lets it go.
    """

    def __init__(self):
        self.key: tuple[str, str] | None = None
        self.loaded = None

    def __call__(self, name: str, device):
        from serlib.features.models import load_model

        if self.key != (name, str(device)):
            self.clear()
            self.loaded = load_model(name, device)
            self.key = (name, str(device))
        return self.loaded

    def clear(self) -> None:
        self.key, self.loaded = None, None
        gc.collect()


#: The loader of this process's extraction runs (each SLURM job is its own process).
LAST_MODEL = LastModel()


def extract_one(config: StudyConfig, model: ModelSpec, corpus: PreparedCorpus,
                settings: dict, progress: bool = True) -> dict:
    """Extract (or reuse) the features of one model x corpus; one row of the runs table."""
    import torch

    from serlib.features.extract import extract_features, resolve_device

    device = resolve_device(settings.get("device", "auto")).type
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    with PeakMemory() as memory:
        result = extract_features(model.source, corpus.manifest_path, config.feature_dir,
                                  corpus_name=corpus.corpus_id, model_label=model.model_id,
                                  progress=progress, loader=LAST_MODEL, **settings)
    return {"model": model.model_id, "corpus": corpus.corpus_id,
            "utterances": result.num_utterances, "computed": result.num_computed,
            "cache_hit": result.cache_hit, "audio_s": round(result.audio_seconds, 1),
            "seconds": round(result.seconds, 2), "load_s": round(result.load_seconds, 2),
            # audio seconds per second of the run without the model's load
            "audio_s_per_s": round(result.throughput, 1),
            # the process's peak resident memory during this run (model, batches, store writes)
            "peak_rss_gb": round(memory.peak_bytes / 2**30, 2), "device": device,
            **({"peak_gpu_gb": round(torch.cuda.max_memory_allocated() / 2**30, 2)}
               if device == "cuda" else {})}


def extract_all(config: StudyConfig, prepared: list[PreparedCorpus], device: str | None = None,
                progress: bool = True) -> pd.DataFrame:
    """Run the extraction engine for every model x corpus; one row per run with its throughput.

    Finished stores with the same cache key are reused (``cache_hit``); an interrupted run
    resumes where it stopped. Jobs run where the profile's ``execution:`` section says
    (in-process by default, or a SLURM job array through submitit).
    """
    settings = dict(config.extraction)
    if device is not None:
        settings["device"] = device
    jobs = [JobSpec(f"extract {model.model_id} x {corpus.corpus_id}", extract_one,
                    (config, model, corpus, settings, progress))
            for model in config.models for corpus in prepared]
    try:
        return pd.DataFrame(run_jobs(jobs, config.execution, config.work_dir / "jobs"))
    finally:
        LAST_MODEL.clear()


def finished_index(config: StudyConfig, model: ModelSpec, corpus_id: str) -> dict:
    """The ``index.json`` of a finished feature store; a clear error when there is none."""
    from serlib.features.store import read_complete_index

    features = feature_folder(config, model, corpus_id)
    index = read_complete_index(features)
    if index is None:
        raise SerlibError(f"no finished features in {features}; run notebook 02 "
                          f"(or `serlib extract`) for {model.model_id} on {corpus_id} first")
    return index
