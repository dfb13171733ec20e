"""Notebook 02: the feature store of every model x corpus of the profile."""

from __future__ import annotations

import pandas as pd

from serlib.common.memory import PeakMemory
from serlib.study.config import ModelSpec, StudyConfig
from serlib.study.execution import JobSpec, run_jobs
from serlib.study.frame_runs import frame_probes, wants_frames_in_memory
from serlib.study.prepare import PreparedCorpus
from serlib.study.stores import LAST_MODEL, engine_settings


def extract_one(config: StudyConfig, model: ModelSpec, corpus: PreparedCorpus,
                settings: dict, progress: bool = True) -> dict:
    """Extract (or reuse) the features of one model x corpus; one row of the runs table."""
    import torch

    from serlib.features.extract import extract_features, resolve_device
    from serlib.features.cost import architecture_of
    from serlib.features.frames import FrameCollector, planned_frames

    device = resolve_device(settings.get("device", "auto")).type
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    collector = None
    if wants_frames_in_memory(config, model, corpus):  # the frame-level probes train on this run's frames
        manifest = corpus.manifest()  # the bank reserved up front, filled in place
        collector = FrameCollector(len(manifest), device=device, expected_frames=planned_frames(
            manifest["duration_s"], architecture_of(model.source).frame_rate))
    with PeakMemory() as memory:
        result = extract_features(model.source, corpus.manifest_path, config.feature_dir,
                                  corpus_name=corpus.corpus_id, model_label=model.model_id,
                                  progress=progress, loader=LAST_MODEL, frame_sink=collector, **settings)
        frame_seconds = 0.0
        if collector is not None:
            ids = corpus.manifest()["utterance_id"].tolist()
            record = frame_probes(config, model, corpus, bank=collector.bank(ids), progress=progress)
            frame_seconds = record["seconds"] if record else 0.0
    return {"model": model.model_id, "corpus": corpus.corpus_id,
            "utterances": result.num_utterances, "computed": result.num_computed,
            "cache_hit": result.cache_hit, "audio_s": round(result.audio_seconds, 1),
            "seconds": round(result.seconds, 2), "load_s": round(result.load_seconds, 2),
            # audio seconds per second of the run without the model's load
            "audio_s_per_s": round(result.throughput, 1),
            # the process's peak resident memory during this run (model, batches, store writes)
            "peak_rss_gb": round(memory.peak_bytes / 2**30, 2), "device": device,
            # frame-level probes trained on this run's frames, held in memory (see frame_runs)
            "frame_probes_s": round(frame_seconds, 1),
            **({"peak_gpu_gb": round(torch.cuda.max_memory_allocated() / 2**30, 2)}
               if device == "cuda" else {})}


def extract_all(config: StudyConfig, prepared: list[PreparedCorpus], device: str | None = None,
                progress: bool = True) -> pd.DataFrame:
    """Run the extraction engine for every model x corpus; one row per run with its throughput.

    Finished stores with the same cache key are reused (``cache_hit``); an interrupted run
    resumes where it stopped. Jobs run where the profile's ``execution:`` section says
    (in-process by default, or a SLURM job array through submitit).
    """
    settings = engine_settings(config)
    if device is not None:
        settings["device"] = device
    jobs = [JobSpec(f"extract {model.model_id} x {corpus.corpus_id}", extract_one,
                    (config, model, corpus, settings, progress))
            for model in config.models for corpus in prepared]
    try:
        return pd.DataFrame(run_jobs(jobs, config.execution, config.work_dir / "jobs"))
    finally:
        LAST_MODEL.clear()
