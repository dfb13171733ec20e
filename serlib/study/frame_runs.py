"""The frame-level probes of the study: per model x corpus, frames held only while they train.

The paper's systems ``dense`` (one probe per hidden state) and ``aggregate`` (DENSE, all hidden
states mixed) read frames: 50 per second x every hidden state, about 1.1 TB over the paper's
profile in float16. :func:`frame_probes` trains every frame-level probe of every protocol of
one model x corpus on one copy of its frames and lets it go:

1. the frames come from the kept frame store (``extraction.keep_frames: true``), or from the
   model run again with the frames sent to memory (:class:`serlib.features.frames.FrameCollector`;
   during notebook 02, :func:`serlib.study.extraction.extract_one` hands over the frames of the
   run that writes the pooled store, so the model runs once);
2. :func:`serlib.features.frames.plan_frame_memory` decides how they are held under the memory
   budget (``extraction.frame_memory_gb``; default half the available memory, 85% of a GPU's
   free memory): all at once, in groups of hidden states (the model rerun per group, or a kept
   store read per group), on a GPU in the host's memory (``extraction.host_frame_memory_gb``,
   default half of it) with mini-batches streamed over, or spilled to one temporary file in
   ``work/<profile>/frames-tmp/``;
3. :func:`serlib.probing.frame_grid.fit_frame_grid` trains each probe for every hidden state x
   fold x seed of a protocol in one pass;
4. each probe x protocol's tables go to the same cache entry a pooled probe's would
   (:class:`serlib.study.probe_cache.ProbeEntry`), so notebooks 04 and 05 read them as any other.

Resuming: finished entries are reused (at model x corpus x probe x protocol granularity); a
run killed while training loses only the unfinished entries; a spill file left by a killed run
is deleted, never read. The whole stage of one model x corpus holds a lock, so two runs never
train the same frames at once. A record of what the stage did (how the frames were held, the
seconds of each probe) is written beside the entries, ``<entry folder>/frame-stage.json``.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from pathlib import Path

import pandas as pd

from serlib.common.errors import SerlibError
from serlib.common.files import atomic_write_text
from serlib.common.locks import folder_lock
from serlib.common.memory import PeakMemory
from serlib.study.config import ModelSpec, StudyConfig
from serlib.study.prepare import PreparedCorpus
from serlib.study.probe_cache import ProbeEntry, labelled_tables, probe_applies, probe_entry, probes_run_under
from serlib.study.stores import LAST_MODEL, engine_settings, feature_folder

RECORD_FILE = "frame-stage.json"


def frame_probe_names() -> tuple[str, ...]:
    """The probes that read frames (``dense``, ``aggregate``)."""
    from serlib.probing.kinds import PROBE_KINDS

    return tuple(name for name, kind in PROBE_KINDS.items() if kind.input == "frames")


def planned_frame_probes(config: StudyConfig, model: ModelSpec) -> list[tuple[str, str]]:
    """(probe, protocol) of every frame-level probe the profile runs on ``model``
    (``probes.per_probe.<probe>.models`` and ``.protocols``; none on an acoustic baseline)."""
    from serlib.features.registry import ACOUSTIC_PREFIX

    if model.source.startswith(ACOUSTIC_PREFIX):
        return []
    planned = []
    for probe in frame_probe_names():
        listed = ((config.probes.get("per_probe") or {}).get(probe) or {}).get("models")
        if listed is None or model.model_id in listed:
            planned += [(probe, protocol) for protocol in probes_run_under(config, probe)]
    return planned


def wanted_entries(config: StudyConfig, model: ModelSpec, corpus: PreparedCorpus,
                   overrides: dict | None = None) -> list[ProbeEntry]:
    """The cache entries of every frame-level probe x protocol the profile runs on this model x
    corpus (:func:`planned_frame_probes`, where the store has the hidden states they need)."""
    return [probe_entry(dataclasses.replace(config, split_protocol=protocol), model, corpus, probe,
                        **(overrides or {}))
            for probe, protocol in planned_frame_probes(config, model)
            if probe_applies(config, model, corpus.corpus_id, probe)]


def missing_entries(config: StudyConfig, model: ModelSpec, corpus: PreparedCorpus,
                    overrides: dict | None = None) -> list[ProbeEntry]:
    return [entry for entry in wanted_entries(config, model, corpus, overrides) if not entry.is_cached()]


def spill_folder(config: StudyConfig, model: ModelSpec, corpus_id: str) -> Path:
    from serlib.features.store import model_slug

    return config.work_dir / "frames-tmp" / model_slug(model.model_id) / corpus_id


def training_device(config: StudyConfig) -> str:
    """Where frames are held and probes train: the extraction's device (``auto``: a GPU if any)."""
    from serlib.probing.train import resolve_device

    return str(resolve_device(config.extraction.get("device", "auto")))


def memory_budget(config: StudyConfig, device: str) -> float:
    """``extraction.frame_memory_gb`` of the profile, else :func:`default_frame_budget`."""
    from serlib.features.frames import default_frame_budget

    setting = config.extraction.get("frame_memory_gb")
    return float(setting) * 1e9 if setting else default_frame_budget(device)


def host_memory_budget(config: StudyConfig, device: str) -> float:
    """What the frames may take of the host's memory while the probes train on a GPU
    (``extraction.host_frame_memory_gb``, else half the memory available); 0 on the host itself."""
    from serlib.features.frames import default_frame_budget

    if not device.startswith("cuda"):
        return 0.0
    setting = config.extraction.get("host_frame_memory_gb")
    return float(setting) * 1e9 if setting is not None else default_frame_budget("cpu")


def frame_memory_plan(config: StudyConfig, model: ModelSpec, corpus: PreparedCorpus,
                      entries: list[ProbeEntry], device: str):
    """The :class:`~serlib.features.frames.FrameMemoryPlan` of this model x corpus, from its
    finished pooled store (frame counts, width) and the measured rates (``serlib plan``)."""
    from serlib.features.frames import plan_frame_memory
    from serlib.features.store import FRAMES_FILE, read_complete_index
    from serlib.study.plan import extraction_seconds_of, frames_disk_rate

    folder = feature_folder(config, model, corpus.corpus_id)
    index = read_complete_index(folder)
    counts = pd.read_csv(folder / "utterances.csv")["num_frames"]
    spill_dir = spill_folder(config, model, corpus.corpus_id)
    spill_dir.mkdir(parents=True, exist_ok=True)
    return plan_frame_memory(
        int(counts.sum()), len(counts), int(index["layers"]), int(index["dim"]), memory_budget(config, device),
        needs_all_layers=any(entry.probe == "aggregate" for entry in entries),
        frames_on_disk=(folder / FRAMES_FILE).is_file(),
        rerun_seconds=extraction_seconds_of(config, model, corpus.corpus_id, device),
        disk_bytes_per_s=frames_disk_rate(device), disk_free_bytes=shutil.disk_usage(spill_dir).free,
        host_budget_bytes=host_memory_budget(config, device))


def collect_frames(config: StudyConfig, model: ModelSpec, corpus: PreparedCorpus, device: str,
                   layers: list[int] | None = None, spill_dir: Path | None = None,
                   progress: bool = True, hold_on: str | None = None):
    """Run the model over the corpus on ``device`` and hold the frames of ``layers`` (all: None)
    in memory on ``hold_on`` (default: ``device``; ``cpu``: the host's memory), or in a spill
    file in ``spill_dir``; the pooled store is written if unfinished."""
    from serlib.features.cost import architecture_of
    from serlib.features.extract import extract_features
    from serlib.features.frames import FrameCollector, planned_frames

    manifest = corpus.manifest()
    folder = feature_folder(config, model, corpus.corpus_id)
    counts, architecture = folder / "utterances.csv", architecture_of(model.source)
    if counts.is_file():  # exact, from the finished pooled store (a spill needs them)
        expected = int(pd.read_csv(counts)["num_frames"].sum())
    elif spill_dir is None and architecture is not None:
        expected = planned_frames(manifest["duration_s"], architecture.frame_rate)
    else:
        expected = None
    collector = FrameCollector(len(manifest), layers, hold_on or device, spill_dir, expected)
    try:
        extract_features(model.source, corpus.manifest_path, config.feature_dir, corpus_name=corpus.corpus_id,
                         model_label=model.model_id, progress=progress, loader=LAST_MODEL,
                         frame_sink=collector, **{**engine_settings(config), "device": device})
    except BaseException:
        collector.discard()
        raise
    return collector.bank(manifest["utterance_id"].tolist())


def _banks(config, model, corpus, plan, device, bank, progress):
    """The banks to train on, each let go once its probes ran, and whether it serves only the
    probes that mix every hidden state (the whole of a spill file or of the host's memory: the
    per-layer probes train on its groups, read back into the device's memory)."""
    from serlib.features.frames import FrameBank

    folder = feature_folder(config, model, corpus.corpus_id)
    if plan.mode == "memory":
        if bank is None:
            bank = (FrameBank.from_store(folder, device=device) if (folder / "frames.npy").is_file()
                    else collect_frames(config, model, corpus, device, progress=progress))
        yield bank, False
        bank.drop()
        return
    if bank is not None:
        bank.drop()
    if plan.mode in ("spill", "host"):  # every hidden state in a file, or in the host's memory
        whole = (collect_frames(config, model, corpus, device, spill_dir=spill_folder(config, model, corpus.corpus_id),
                                progress=progress) if plan.mode == "spill" else
                 FrameBank.from_store(folder, device="cpu") if (folder / "frames.npy").is_file() else
                 collect_frames(config, model, corpus, device, progress=progress, hold_on="cpu"))
        try:
            yield whole, True  # probes that mix every hidden state stream their mini-batches from it
            for layers in plan.chunks:
                chunk = whole.load_layers(list(layers), device)
                yield chunk, False
                chunk.drop()
        finally:
            whole.drop()
        return
    for layers in plan.chunks:  # "chunks": the kept store read, or the model run, per group
        chunk = (FrameBank.from_store(folder, list(layers), device) if (folder / "frames.npy").is_file()
                 else collect_frames(config, model, corpus, device, list(layers), progress=progress))
        yield chunk, False
        chunk.drop()


def frame_probes(config: StudyConfig, model: ModelSpec, corpus: PreparedCorpus, overrides: dict | None = None,
                 bank=None, progress: bool = True) -> dict | None:
    """Train every missing frame-level probe x protocol of ``model`` x ``corpus`` (see the module
    docstring); ``bank``: frames already in memory (from the run that wrote the pooled store).
    Returns the stage's record (None when every entry was cached)."""
    entries = missing_entries(config, model, corpus, overrides)
    if not entries:
        if bank is not None:
            bank.drop()
        return None
    cache = entries[0].cache
    model_before = LAST_MODEL.key
    try:
        with folder_lock(cache / "frame-stage", what=f"frame-level probes of {model.model_id} x {corpus.corpus_id}"):
            return _train_missing(config, model, corpus, overrides, bank, progress, cache)
    finally:
        if LAST_MODEL.key != model_before:  # a model loaded here to collect frames is let go
            LAST_MODEL.clear()


def _train_missing(config, model, corpus, overrides, bank, progress, cache) -> dict | None:
    """:func:`frame_probes` under the stage's lock."""
    from serlib.features.frames import remove_stale_spills
    from serlib.probing.frame_grid import FrameFold, fit_frame_grid, grid_groups
    from serlib.probing.inputs import join_split, load_feature_folder
    from serlib.probing.kinds import get_probe_kind
    from serlib.probing.train import TrainingConfig

    entries = missing_entries(config, model, corpus, overrides)  # another run may have done them
    if not entries:
        return None
    started = time.perf_counter()
    device = training_device(config)
    remove_stale_spills(spill_folder(config, model, corpus.corpus_id))
    plan = frame_memory_plan(config, model, corpus, entries, device)
    folder = load_feature_folder(feature_folder(config, model, corpus.corpus_id))
    folds = {entry.stem: [FrameFold(int(fold), join_split(folder, entry.split_file, int(fold)))
                          for fold in sorted(pd.read_csv(entry.split_file)["fold"].unique())]
             for entry in entries}
    parts: dict[str, list] = {entry.stem: [] for entry in entries}
    seconds = dict.fromkeys(parts, 0.0)

    def parts_needed(kind) -> int:  # a per-layer probe trains on every group of hidden states
        return 1 if plan.mode == "memory" or kind.scope != "per_layer" else len(plan.chunks)

    with PeakMemory() as memory:
        for held, mixing_only in _banks(config, model, corpus, plan, device, bank, progress):
            if held.utterance_ids != folder.utterance_ids:
                raise SerlibError(f"{folder.path}: the frames' utterances are not the pooled store's; "
                                  "delete the store and rerun notebook 02")
            for entry in entries:
                kind = get_probe_kind(entry.probe)
                if entry.stem not in parts or (kind.scope == "per_layer" and mixing_only):
                    continue  # trained on the groups read back into (the GPU's) memory
                try:
                    grid_groups(kind, held)
                except SerlibError:
                    continue  # an aggregation and a group of hidden states
                settings = entry.settings
                training = TrainingConfig(epochs=settings["epochs"], batch_size=settings["batch_size"],
                                          learning_rate=settings["learning_rate"], device=device)
                since = time.perf_counter()
                parts[entry.stem].append(fit_frame_grid(
                    kind, held, folds[entry.stem], list(range(settings["seeds"])), training,
                    standardize=settings["standardize"], progress=progress,
                    description=f"{entry.probe} {model.model_id} x {corpus.corpus_id}, {entry.protocol}"))
                seconds[entry.stem] += time.perf_counter() - since
                if len(parts[entry.stem]) == parts_needed(kind):  # finished: kept at once
                    _write_entry(entry, folder, corpus, folds[entry.stem], parts.pop(entry.stem))
    record = {"model": model.model_id, "corpus": corpus.corpus_id, "device": device,
              "frames_held": plan.mode, "hidden_state_groups": [list(chunk) for chunk in plan.chunks],
              "why": plan.reason, "frames_gb": round(plan.bank_bytes / 1e9, 3),
              "spill_gb": round(plan.spill_bytes / 1e9, 3),
              "peak_rss_gb": round(memory.peak_bytes / 2**30, 2),
              "probes": [{"probe": entry.label, "protocol": entry.protocol, "seeds": entry.settings["seeds"],
                          "folds": len(folds[entry.stem]), "seconds": round(seconds[entry.stem], 1)}
                         for entry in entries],
              "seconds": round(time.perf_counter() - started, 1)}
    atomic_write_text(cache / RECORD_FILE, json.dumps(record, indent=2) + "\n")
    return record


def _write_entry(entry: ProbeEntry, folder, corpus: PreparedCorpus, folds, parts: list) -> None:
    """The tables of one frame-level probe x protocol from its grid runs (one per group of hidden
    states), written to its cache entry."""
    from serlib.probing.histories import FoldRuns, join_group_histories, probe_run_tables
    from serlib.probing.inputs import describe_run
    from serlib.probing.kinds import get_probe_kind, group_ids_for

    _, layer_labels = group_ids_for(get_probe_kind(entry.probe), folder.num_hidden_states)
    labels = describe_run(folder, entry.label, corpus.corpus_id, entry.model.model_id, corpus.language)
    histories = [FoldRuns(fold.fold, fold.split,
                          {seed: join_group_histories([part[(fold.fold, seed)] for part in parts])
                           for seed in range(entry.settings["seeds"])})
                 for fold in folds]
    tables = labelled_tables(probe_run_tables(labels, entry.protocol, histories, layer_labels,
                                              folder.utterance_ids), entry.label)
    entry.tables(lambda: tables)


def frame_stage_records(config: StudyConfig) -> pd.DataFrame:
    """One row per probe x protocol the frame-level stage trained, from the records it left
    (the latest per model x corpus): how the frames were held and the seconds it took."""
    rows = []
    for path in sorted((config.work_dir / "probes").glob(f"*/*/{RECORD_FILE}")):
        record = json.loads(path.read_text())
        for probe in record["probes"]:
            rows.append({"model": record["model"], "corpus": record["corpus"], **probe,
                         "frames_held": record["frames_held"],
                         "hidden_state_groups": len(record["hidden_state_groups"]),
                         "frames_gb": record["frames_gb"], "peak_rss_gb": record["peak_rss_gb"],
                         "device": record["device"]})
    return pd.DataFrame(rows)


def wants_frames_in_memory(config: StudyConfig, model: ModelSpec, corpus: PreparedCorpus) -> bool:
    """Whether notebook 02's run of this model x corpus should hand its frames to the
    frame-level stage: the profile runs frame-level probes on it, some are not cached yet,
    frames are not kept on disk, and the planned frames (from the manifest's durations) fit the
    memory budget twice over (they are collected, then laid out as the bank)."""
    from serlib.features.cost import architecture_of
    from serlib.features.frames import frame_memory_bytes, planned_frames
    from serlib.features.store import read_complete_index

    architecture = architecture_of(model.source)
    if (config.extraction.get("keep_frames", False) or architecture is None
            or not planned_frame_probes(config, model)):
        return False
    if read_complete_index(feature_folder(config, model, corpus.corpus_id)) is not None \
            and not missing_entries(config, model, corpus):
        return False
    manifest = corpus.manifest()
    frames = planned_frames(manifest["duration_s"], architecture.frame_rate)
    needed = frame_memory_bytes(frames, len(manifest), architecture.hidden_states, architecture.width)
    return needed <= memory_budget(config, training_device(config))


__all__ = ["collect_frames", "frame_memory_plan", "frame_probe_names", "frame_probes", "frame_stage_records",
           "missing_entries", "planned_frame_probes", "wanted_entries", "wants_frames_in_memory"]
