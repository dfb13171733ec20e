"""``serlib plan PROFILE``: what a profile's run will cost, before running it.

For every model x corpus of a profile and every device of ``measured_throughput.json`` beside
this module (``cpu``: the project's 2-core machine; ``cuda``: an H100), without loading a model
or reading audio, it plans:

- **extraction** (notebook 02): the model's multiply-adds over the corpus (counted from the
  architecture by :mod:`serlib.features.cost`; Whisper's full window costs 30 s of audio per
  clip whatever its length) at the engine's measured rate, plus the measured per-run and
  per-utterance overheads, plus the frame-store writes where the profile keeps frames
  (``keep_frames: true``); the model's load once per model (a base plus seconds per million
  parameters, and a first load's extra for the process); the acoustic baselines at their
  measured seconds per second of audio;
- **holding the frames** of the frame-level probes (:mod:`serlib.study.frame_runs`):
  :func:`serlib.features.frames.plan_frame_memory` with the device's memory budget decides
  whether a model x corpus's frames are held whole, in groups of hidden states or spilled to one
  temporary file, as the study will; what that costs beyond the extraction: model runs (one per
  group; one where notebook 02 cannot hand its frames over because they do not fit the budget;
  one to fill a spill file), a load of the model for the stage where it runs the model,
  and the disk (a spill file written and read back once, a kept store read) at the device's
  disk rate;
- **frame-level probes** (``dense``, ``aggregate``): their counted multiply-adds
  (:func:`serlib.features.cost.frame_probe_macs`) x epochs x seeds, over the training and the
  evaluated frames of every fold of every protocol the probe runs under, at the effective rate
  ``benchmarks/frame_probe_speed.py`` measured (on a GPU: assumed, see the JSON);
- **pooled probes** (those notebooks 03-05 train, :data:`NOTEBOOK_POOLED_PROBES`, plus under the
  main protocol notebook 03's linear probe on the other input scaling and notebook 09's capacity
  variants), per the profile's
  ``probes.per_probe.<probe>`` models, protocols and seeds: each probe kind's measured seconds
  on the reference grid of ``benchmarks/probe_costs.py`` scaled **linearly** in the training
  utterances summed over the folds, the hidden states, the width, the seeds and the epochs.
  Linear is a simplification: a small grid pays more per unit for its fixed per-step costs, so
  large grids are planned on the slow side (the fused linear grid of 535 x 25 x 1024 x 5 seeds
  measured 13.94 s on the CPU, where this scaling gives 16.0 s). On a GPU: the CPU's seconds x
  the one measured GPU/CPU ratio (assumed for every probe kind);
- **disk**: pooled stores ``N x (L+1) x D x 4`` bytes (x2 for mean+std), kept frame stores
  (float16) ``frames/s x seconds x (L+1) x D x 2`` bytes, and the largest spill file (one
  exists at a time; deleted once its probes ran): at the peak, and kept at the end;
- **memory**: one extraction batch (weights + the batch's captured hidden states + one layer's
  attention scores + the first conv layer's output) plus the frames held for the frame-level
  probes where notebook 02's run fills their bank, else the larger of the two.

Folds come from the profile's split files (``work/<profile>/manifests/<id>.split-<protocol>-
seed<k>.csv``, written by notebook 01) where they exist, else from the rules of
:mod:`serlib.data.splits` applied to the corpus's speakers. Corpus sizes come from the profile's
manifests when they exist, else from :data:`TYPICAL_CORPORA`. Not planned: notebook 07's
data-scaling curves and layer selection, notebook 08's transfer probes, notebook 09's runs on
degraded test audio, notebook 10's attribute probes, downloads, the report.

The plan's parts: :mod:`serlib.study.plan_sizes` (corpus sizes and folds),
:mod:`serlib.study.plan_rates` (the measured rates and the costs they give) and
:mod:`serlib.study.plan_format` (the text and JSON of ``serlib plan``). Torch and transformers
are not imported: ``./run_all.sh`` prints the plan before a
long run.
"""

from __future__ import annotations

import math

import pandas as pd

from serlib.common.errors import SerlibError
from serlib.features.cost import ACOUSTIC_WIDTHS, architecture_of, frame_probe_macs
from serlib.features.frames import plan_frame_memory
from serlib.features.registry import ACOUSTIC_PREFIX
from serlib.probing.kinds import get_probe_kind
from serlib.study.capacity import variant_probes
from serlib.study.config import ModelSpec, StudyConfig
from serlib.study.probe_cache import probe_label, probe_settings, probes_run_under
from serlib.study.plan_rates import (FRAME_PROBES, acoustic_seconds, assumptions, compute_bytes, device_kind,
                                     device_sources, disk_bytes_per_s, extraction_seconds, frame_budget,
                                     frame_probe_rate, frames_write_seconds, host_frame_budget,
                                     host_to_device_bytes_per_s, load_measurements, model_load_seconds,
                                     peak_batch_bytes, pooled_device_seconds, pooled_probe_seconds)
from serlib.study.plan_sizes import CorpusSize, corpus_size, protocol_folds
from serlib.study.stores import feature_folder

#: A profile whose fresh run is planned to take longer than this prints its plan in run_all.
LONG_RUN_SECONDS = 600.0
#: The pooled probes notebooks 03-05 train on every model x corpus their ``per_probe`` lists allow,
#: under every protocol they run under (notebook 09 adds the capacity variants of
#: :func:`serlib.study.capacity.variant_probes` under the main protocol).
NOTEBOOK_POOLED_PROBES = ("linear", "softmax", "dense-pooled", "aggregate-pooled", "aggregate-softmax",
                          "aggregate-concat", "aggregate-hierconv", "cumulative")
#: Classes where the corpus's labels are not known yet (the output layer is < 0.1% of the count).
DEFAULT_CLASSES = 7
#: Columns of the plan with one pooled probe's CPU seconds: ``pooled_s_<label>_cpu_s``.
POOLED_PREFIX = "pooled_s_"
#: How the frames of a model x corpus are held (:class:`serlib.features.frames.FrameMemoryPlan`),
#: and ``too-large`` where one hidden state exceeds the budget (the stage would stop).
FRAME_MODES = ("memory", "chunks", "host", "spill", "too-large")


def _listed(config: StudyConfig, probe: str, model: ModelSpec) -> bool:
    listed = ((config.probes.get("per_probe") or {}).get(probe) or {}).get("models")
    return listed is None or model.model_id in listed


def frame_probe_runs(config: StudyConfig, model: ModelSpec) -> list[tuple[str, str]]:
    """(probe, protocol) of every frame-level probe the profile runs on ``model`` (as
    :func:`serlib.study.frame_runs.planned_frame_probes`; none on an acoustic baseline)."""
    if model.source.startswith(ACOUSTIC_PREFIX):
        return []
    return [(probe, protocol) for probe in FRAME_PROBES if _listed(config, probe, model)
            for protocol in probes_run_under(config, probe)]


def pooled_probe_runs(config: StudyConfig, model: ModelSpec, hidden_states: int) -> list[tuple[str, str, str, dict]]:
    """(label, probe kind, protocol, settings) of every pooled probe the notebooks train on
    ``model``: :data:`NOTEBOOK_POOLED_PROBES` where ``per_probe`` lists the model, under the
    protocols it runs under (only per-layer probes on a single hidden state); under the main
    protocol, notebook 03's linear probe with the other input scaling and notebook 09's capacity
    variants (:func:`serlib.study.capacity.variant_probes`), each label once."""
    def applies(probe: str) -> bool:
        return _listed(config, probe, model) and (hidden_states > 1 or get_probe_kind(probe).scope == "per_layer")

    runs = [(probe, probe, protocol, probe_settings(config, probe))
            for probe in NOTEBOOK_POOLED_PROBES if applies(probe) for protocol in probes_run_under(config, probe)]
    main = config.split_protocol
    flipped = {"standardize": not probe_settings(config, "linear")["standardize"]}
    extra = [("linear", probe_label(config, "linear", **flipped), flipped), *variant_probes(config)]
    for probe, label, overrides in extra:
        if applies(probe) and main in probes_run_under(config, probe) and (label, main) not in {
                (run[0], run[2]) for run in runs}:
            runs.append((label, probe, main, probe_settings(config, probe, overrides)))
    return runs


# --- the plan ----------------------------------------------------------------------------------


def _describe_runs(config: StudyConfig, runs: list[tuple[str, str]]) -> str:
    """``dense (random, speaker-cv; 1 seed), aggregate (...)``: the frame-level probes of a model."""
    protocols: dict[str, list[str]] = {}
    for probe, protocol in runs:
        protocols.setdefault(probe, []).append(protocol)
    parts = []
    for probe, listed in protocols.items():
        seeds = probe_settings(config, probe)["seeds"]
        parts.append(f"{probe} ({', '.join(listed)}; {seeds} seed{'s' if seeds != 1 else ''})")
    return ", ".join(parts)


def _frame_holding(config: StudyConfig, frames: float, size: CorpusSize, states: int, width: int,
                   device: str, measured: dict, needs_all_layers: bool, keep_frames: bool,
                   run_seconds: float, streamed_passes: float) -> dict:
    """How a model x corpus's frames are held on ``device`` and what holding them costs.

    ``streamed_passes``: how often the all-layer probes read every frame (epochs x seeds x folds;
    0 without them): from a spill file each pass reads the disk, from the host's memory each
    crosses to the GPU."""
    budget, _ = frame_budget(config, device, measured)
    rate = disk_bytes_per_s(measured)
    bank = frames * width * 2 * states
    try:
        plan = plan_frame_memory(int(frames), size.utterances, states, width, budget, needs_all_layers,
                                 frames_on_disk=keep_frames, rerun_seconds=run_seconds, disk_bytes_per_s=rate,
                                 host_budget_bytes=host_frame_budget(config, device, measured))
    except SerlibError as error:
        return {"mode": "too-large", "groups": 0, "memory": 0, "spill": 0, "runs": 0, "disk_s": 0.0,
                "stream_s": 0.0, "host": 0, "why": str(error)}
    groups = len(plan.chunks)
    # notebook 02 hands its frames over when they fit the budget (wants_frames_in_memory)
    handed = plan.mode == "memory" and not keep_frames
    if plan.mode == "memory":  # else they come from the kept store, or from one more model run
        runs, disk = (0, bank) if keep_frames else (0 if handed else 1, 0.0)
    elif plan.mode == "chunks":  # a group per model run, or per read of the frame-major store
        runs, disk = (0, groups * bank) if keep_frames else (groups, 0.0)
    elif plan.mode == "host":  # one model run (or a read of the kept store) fills the host's memory
        runs, disk = (0, bank) if keep_frames else (1, 0.0)
    else:  # one model run fills the spill file; read back once for the groups, and by every pass
        # of a mixing probe (a spill is larger than memory: its pages come from the disk each time)
        runs, disk = 1, (2 + streamed_passes) * plan.spill_bytes
    # frames in the host's memory cross to the GPU: each group once, every pass of a mixing probe
    streamed = bank * (1 + streamed_passes) if plan.mode == "host" else 0.0
    return {"mode": plan.mode, "groups": groups, "memory": plan.peak_memory_bytes, "spill": plan.spill_bytes,
            "runs": runs, "disk_s": disk / rate, "stream_s": streamed / host_to_device_bytes_per_s(measured),
            "host": plan.host_bytes, "why": plan.reason, "in_extraction": handed}


def _mixing_passes(config: StudyConfig, runs: list[tuple[str, str]], protocols: dict) -> float:
    """Passes over every frame of the probes that mix all hidden states: each (fold, seed) run
    reads its training, dev and test utterances once an epoch."""
    passes = 0
    for probe, protocol in runs:
        if probe == "aggregate":
            settings = probe_settings(config, probe)
            passes += settings["seeds"] * settings["epochs"] * len(protocols[protocol][0])
    return float(passes)


def _frame_probe_macs(config: StudyConfig, runs: list[tuple[str, str]], states: int, width: int,
                      frame_rate: float, protocols: dict, classes: int) -> dict[str, float]:
    """Multiply-adds of each frame-level probe over every fold, seed and epoch of its protocols."""
    macs = dict.fromkeys(FRAME_PROBES, 0.0)
    for probe, protocol in runs:
        settings = probe_settings(config, probe)
        per_epoch = sum(frame_probe_macs(probe, states, width, fold.train_seconds * frame_rate,
                                         fold.evaluated_seconds * frame_rate, fold.train_utterances,
                                         fold.evaluated_utterances, classes)
                        for fold in protocols[protocol][0])
        macs[probe] += per_epoch * settings["seeds"] * settings["epochs"]
    return macs


def plan_study(config: StudyConfig, measurements: dict | None = None) -> pd.DataFrame:
    """One row per model x corpus: sizes, disk (bytes), and per device (``<part>_<device>_...``)
    the seconds of extraction (without the load), of holding the frames, of the frame-level and
    the pooled probes, how the frames are held and the peak memory (bytes). Loads and totals:
    :func:`plan_summary`."""
    measurements = measurements or load_measurements()
    devices = measurements["extraction"]
    extraction = dict(config.extraction)
    window = extraction.get("whisper_window", "full")
    keep_frames = bool(extraction.get("keep_frames", False))
    pooled_factor = 2 if extraction.get("pooling", "mean") == "mean+std" else 1
    reference = measurements["probes"]["cpu"]
    corpora = {}
    for corpus in config.corpora:
        size = corpus_size(config, corpus.corpus_id)
        corpora[corpus.corpus_id] = (size, {protocol: protocol_folds(config, corpus.corpus_id, protocol, size)
                                            for protocol in config.split_protocols})
    rows = []
    for spec in config.models:
        architecture = architecture_of(spec.source)
        acoustic = spec.source.removeprefix(ACOUSTIC_PREFIX) if spec.source.startswith(ACOUSTIC_PREFIX) else None
        for corpus_id, (size, protocols) in corpora.items():
            row = {"model": spec.model_id, "corpus": corpus_id, "utterances": size.utterances,
                   "audio_h": size.total_seconds / 3600, "speakers": size.speakers, "sizes_from": size.source,
                   "folds": "; ".join(f"{protocol} {len(folds)}" for protocol, (folds, _) in protocols.items()),
                   "folds_from": "; ".join(f"{protocol}: {how}" for protocol, (_, how) in protocols.items())}
            if architecture is None and acoustic not in ACOUSTIC_WIDTHS:
                rows.append(row)  # an unknown model: not planned
                continue
            states, width = ((architecture.hidden_states, architecture.width) if architecture
                             else (1, ACOUSTIC_WIDTHS[acoustic]))
            frames = size.total_seconds * architecture.frame_rate if architecture else 0.0
            row.update(hidden_states=states, width=width,
                       pooled_bytes=size.utterances * states * width * 4 * pooled_factor,
                       frames_bytes=int(frames * states * width * 2) if keep_frames and architecture else 0)
            frame_runs = frame_probe_runs(config, spec) if architecture else []
            macs = (_frame_probe_macs(config, frame_runs, states, width, architecture.frame_rate, protocols,
                                      size.classes or DEFAULT_CLASSES) if architecture else {})
            row["frame_probes"] = _describe_runs(config, frame_runs)
            row["bank_bytes"] = int(frames * states * width * 2) if frame_runs else 0
            row.update({f"frame_macs_{probe}": macs.get(probe, 0.0) for probe in FRAME_PROBES})
            pooled = {device: {} for device in devices}  # device -> label -> seconds
            for label, probe, protocol, settings in pooled_probe_runs(config, spec, states):
                folds = protocols[protocol][0]
                seconds = pooled_probe_seconds(probe, states, width, folds, settings["seeds"], settings["epochs"],
                                               reference)
                for device, by_label in pooled.items():
                    by_label[label] = by_label.get(label, 0.0) + pooled_device_seconds(
                        probe, seconds, states, width, folds, settings["seeds"], settings["epochs"],
                        settings["batch_size"], size.classes or DEFAULT_CLASSES, measurements, device)
            row["pooled_probes"] = ", ".join(pooled["cpu"])
            row.update({f"{POOLED_PREFIX}{label}_{device}_s": seconds for device, by_label in pooled.items()
                        for label, seconds in by_label.items()})
            for device, measured in devices.items():
                if architecture:
                    run_seconds = extraction_seconds(architecture, size.mean_seconds, size.utterances, measured,
                                                     window, device)
                    extract = run_seconds + frames_write_seconds(row["frames_bytes"], measured)
                    batch = peak_batch_bytes(architecture, size.max_seconds, device, compute_bytes(config, device))
                else:
                    run_seconds = extract = acoustic_seconds(acoustic, size.total_seconds, measured)
                    batch = 0
                held = (_frame_holding(config, frames, size, states, width, device, measured,
                                       any(probe == "aggregate" for probe, _ in frame_runs), keep_frames, run_seconds,
                                       _mixing_passes(config, frame_runs, protocols))
                        if frame_runs else None)
                frame_seconds = sum(value / frame_probe_rate(measurements, device, probe)
                                    for probe, value in macs.items() if value)
                row.update({
                    f"extract_{device}_s": extract,
                    f"frames_held_{device}": held["mode"] if held else "",
                    f"frame_groups_{device}": held["groups"] if held else 0,
                    f"frame_runs_{device}": held["runs"] if held else 0,
                    f"frames_in_extraction_{device}": bool(held and held.get("in_extraction")),
                    f"frame_holding_{device}_s": ((held["runs"] * run_seconds + held["disk_s"] + held["stream_s"])
                                                  if held else 0.0),
                    f"frame_host_{device}_bytes": held["host"] if held else 0,
                    f"frame_probe_{device}_s": float(frame_seconds),
                    f"pooled_probe_{device}_s": sum(pooled[device].values()),
                    f"spill_{device}_bytes": held["spill"] if held else 0,
                    f"frame_memory_{device}_bytes": held["memory"] if held else 0,
                    f"peak_batch_{device}_bytes": batch,
                    # frames handed over by notebook 02's run fill their bank beside the model's batches
                    f"peak_memory_{device}_bytes": ((batch + held["memory"]) if held and held.get("in_extraction")
                                                     else max(batch, held["memory"] if held else 0)),
                    f"frames_held_why_{device}": held["why"] if held else "",
                })
            rows.append(row)
    return pd.DataFrame(rows)


def _model_loads(config: StudyConfig, plan: pd.DataFrame, measurements: dict) -> dict[str, dict[str, tuple[float, float]]]:
    """device -> model -> (seconds of its load in notebook 02, of its load for the frame-level
    stage where that runs the model: a later notebook's process)."""
    loads = {}
    for device, measured in measurements["extraction"].items():
        loads[device] = {}
        first_extraction = first_stage = True
        for spec in config.models:
            architecture = architecture_of(spec.source)
            if architecture is None:
                loads[device][spec.model_id] = (0.0, 0.0)
                continue
            column = f"frame_runs_{device}"
            rows = plan[plan["model"] == spec.model_id]
            reruns = bool(column in rows and (rows[column] > 0).any())
            stage = model_load_seconds(architecture, measured, first_stage) if reruns else 0.0
            loads[device][spec.model_id] = (model_load_seconds(architecture, measured, first_extraction), stage)
            first_extraction = False
            first_stage = first_stage and not reruns
    return loads


def plan_summary(config: StudyConfig, plan: pd.DataFrame, measurements: dict | None = None) -> dict:
    """The plan as the JSON of ``serlib plan --json``: per device the seconds of each part and
    their total, loads and per-model rows, how the frames are held, peak memory and disk; the
    disk at the peak and kept at the end, the peak memory (the largest of the devices'); the
    corpora with their folds; the per model x corpus rows; every assumed rate."""
    measurements = measurements or load_measurements()
    keep_frames = bool(config.extraction.get("keep_frames", False))
    loads = _model_loads(config, plan, measurements)

    def total(column: str) -> float:
        return float(plan[column].sum()) if column in plan else 0.0

    pooled_bytes, kept_frames = total("pooled_bytes"), total("frames_bytes")
    devices = {}
    for device, measured in measurements["extraction"].items():
        load_s = sum(extraction for extraction, _ in loads[device].values())
        stage_load_s = sum(stage for _, stage in loads[device].values())
        runs_s = total(f"extract_{device}_s")
        holding_s = total(f"frame_holding_{device}_s") + stage_load_s
        parts = {"extraction_s": load_s + runs_s, "frame_holding_s": holding_s,
                 "frame_probe_s": total(f"frame_probe_{device}_s"), "pooled_probe_s": total(f"pooled_probe_{device}_s")}
        spill = float(plan[f"spill_{device}_bytes"].max()) if f"spill_{device}_bytes" in plan and len(plan) else 0.0
        spill = 0.0 if math.isnan(spill) else spill
        modes = plan[f"frames_held_{device}"] if f"frames_held_{device}" in plan else pd.Series(dtype=str)
        budget, budget_from = frame_budget(config, device, measured)
        models = []
        for model, rows in plan.groupby("model", sort=False):
            extraction_load, stage_load = loads[device].get(model, (0.0, 0.0))
            entry = {"model": model, "load_s": extraction_load,
                     "extraction_s": extraction_load + float(rows[f"extract_{device}_s"].sum()) if f"extract_{device}_s" in rows else float("nan"),
                     "frame_holding_s": stage_load + float(rows.get(f"frame_holding_{device}_s", pd.Series(dtype=float)).sum()),
                     "frame_probe_s": float(rows.get(f"frame_probe_{device}_s", pd.Series(dtype=float)).sum()),
                     "pooled_probe_s": float(rows.get(f"pooled_probe_{device}_s", pd.Series(dtype=float)).sum()),
                     "peak_memory_bytes": float(rows.get(f"peak_memory_{device}_bytes", pd.Series([0.0])).max())}
            entry["total_s"] = sum(entry[part] for part in ("extraction_s", "frame_holding_s", "frame_probe_s",
                                                             "pooled_probe_s"))
            models.append(entry)
        peak_memory = float(plan[f"peak_memory_{device}_bytes"].max()) if f"peak_memory_{device}_bytes" in plan else 0.0
        devices[device] = {
            **parts, "total_s": sum(parts.values()),
            "load_s": load_s, "extraction_runs_s": runs_s, "frame_stage_load_s": stage_load_s,
            "pooled_probe_s_by_probe": _pooled_by_probe(plan, device),
            "frame_probe_s_by_probe": {
                probe: float(plan[f"frame_macs_{probe}"].sum()) / frame_probe_rate(measurements, device, probe)
                for probe in FRAME_PROBES if f"frame_macs_{probe}" in plan and plan[f"frame_macs_{probe}"].sum() > 0},
            "frames_in_extraction_probe_s": _in_extraction_probe_seconds(plan, device),
            "name": measured.get("name", device), "machine": measured.get("machine", device),
            "frame_memory_budget_bytes": budget, "frame_memory_budget_from": budget_from,
            "frames_held": {mode: int((modes == mode).sum()) for mode in FRAME_MODES},
            "largest_spill_bytes": spill,
            "peak_memory_bytes": 0.0 if math.isnan(peak_memory) else peak_memory,
            "peak_frame_disk_bytes": kept_frames + spill,
            "peak_disk_bytes": pooled_bytes + kept_frames + spill,
            "kept_disk_bytes": pooled_bytes + kept_frames,
            "models": models,
            "sources": device_sources(measurements, device, keep_frames),
        }
    corpora = []
    for corpus, rows in plan.groupby("corpus", sort=False):
        first = rows.iloc[0]
        corpora.append({"corpus": corpus, "utterances": int(first["utterances"]), "audio_h": float(first["audio_h"]),
                        "speakers": int(first["speakers"]), "sizes_from": first["sizes_from"],
                        "folds": first["folds"], "folds_from": first["folds_from"]})
    return {
        "profile": config.profile, "models": len(config.models), "corpora": corpora,
        "audio_h": float(sum(corpus["audio_h"] for corpus in corpora)),
        "keep_frames": keep_frames,
        "devices": devices,
        "pooled_disk_bytes": pooled_bytes, "kept_frames_bytes": kept_frames,
        "kept_disk_bytes": pooled_bytes + kept_frames,
        "peak_disk_bytes": max((entry["peak_disk_bytes"] for entry in devices.values()), default=0.0),
        "peak_frame_disk_bytes": max((entry["peak_frame_disk_bytes"] for entry in devices.values()), default=0.0),
        "peak_memory_bytes": max((entry["peak_memory_bytes"] for entry in devices.values()), default=0.0),
        "assumed": assumptions(measurements),
        "not_planned": "notebook 07's data-scaling curves and layer selection, notebook 08's transfer probes, "
                       "notebook 09's runs on degraded test audio, notebook 10's attribute probes, downloads, "
                       "the report",
        "rows": _records(plan),
    }


def _pooled_by_probe(plan: pd.DataFrame, device: str) -> dict[str, float]:
    """Seconds of each pooled probe (by its label) on ``device``, summed over the plan's rows."""
    suffix = f"_{device}_s"
    return {column[len(POOLED_PREFIX):-len(suffix)]: float(plan[column].sum()) for column in plan.columns
            if column.startswith(POOLED_PREFIX) and column.endswith(suffix)}


def _in_extraction_probe_seconds(plan: pd.DataFrame, device: str) -> float:
    """Seconds of the frame-level probes notebook 02 trains on the frames it hands over."""
    column = f"frames_in_extraction_{device}"
    if column not in plan:
        return 0.0
    return float(plan.loc[plan[column].eq(True), f"frame_probe_{device}_s"].sum())


def _records(plan: pd.DataFrame) -> list[dict]:
    """The plan's rows as JSON-ready dicts (NaN -> None, numpy scalars -> Python)."""
    records = []
    for record in plan.to_dict(orient="records"):
        records.append({key: (None if isinstance(value, float) and math.isnan(value)
                              else value.item() if hasattr(value, "item") else value)
                        for key, value in record.items()})
    return records


def run_device(config: StudyConfig) -> str:
    return "cuda" if config.extraction.get("device") == "cuda" else "cpu"


def planned_run_seconds(config: StudyConfig) -> dict | None:
    """The plan of a fresh run on the profile's device: ``extraction_s`` (notebook 02's model
    runs and loads), ``frames_in_extraction_probe_s`` (the frame-level probes notebook 02
    trains on the frames it hands over) and ``total_s``; None when no model is planned."""
    measurements = load_measurements()
    plan = plan_study(config, measurements)
    column = f"extract_{run_device(config)}_s"
    if column not in plan or not plan[column].notna().any():
        return None
    return plan_summary(config, plan, measurements)["devices"][run_device(config)]


def planned_extraction_seconds(config: StudyConfig) -> float | None:
    """The plan's extraction time of a fresh run (loads included) on the CPU (or
    ``extraction.device``), in seconds; None when no model is planned."""
    entry = planned_run_seconds(config)
    return None if entry is None else float(entry["extraction_s"])


PLAN_VS_MEASURED_COLUMNS = [
    "model", "corpus", "device", "utterances", "planned_s", "measured_s", "measured_over_planned",
    "planned_disk_mb", "written_disk_mb", "planned_batch_memory_gb", "measured_peak_memory_gb",
]


def planned_vs_measured(config: StudyConfig, runs: pd.DataFrame) -> pd.DataFrame:
    """The plan beside notebook 02's runs: one row per model x corpus computed in this run.

    ``runs`` is :func:`serlib.study.extraction.extract_all`'s table (``device``, ``seconds``,
    ``load_s``, ``computed``, ``peak_rss_gb``, and ``peak_gpu_gb`` on a GPU). Like with like:
    planned time is the plan's run of that model x corpus on the run's device (compute, per-run
    and per-utterance overheads, frame-store writes where kept; acoustic baselines at their
    seconds per audio second), **without** the model's load, scaled to the utterances computed
    (a resumed run computes only the rest); measured time is the run's seconds less its load.
    Disk: the store files as written (pooled, and frames where kept). Memory: the plan's model
    + one batch against the process's peak resident memory (CPU) or the GPU's peak allocation.
    Cache hits have nothing measured and are left out.
    """
    plan = plan_study(config).set_index(["model", "corpus"])
    models = {spec.model_id: spec for spec in config.models}
    rows = []
    for run in runs[runs["computed"] > 0].itertuples(index=False):
        if (run.model, run.corpus) not in plan.index:
            continue
        planned = plan.loc[(run.model, run.corpus)]
        device = "cuda" if getattr(run, "device", "cpu") == "cuda" else "cpu"
        if pd.isna(planned.get(f"extract_{device}_s")):
            continue  # unknown architectures are not planned
        share = run.computed / max(run.utterances, 1)
        planned_s = float(planned[f"extract_{device}_s"]) * share
        measured_s = float(run.seconds) - float(getattr(run, "load_s", 0.0))
        folder = feature_folder(config, models[run.model], run.corpus)
        written = sum(path.stat().st_size for name in ("pooled.npy", "frames.npy")
                      if (path := folder / name).exists())
        measured_memory = (getattr(run, "peak_gpu_gb", float("nan")) if device == "cuda"
                           else getattr(run, "peak_rss_gb", float("nan")))
        rows.append({
            "model": run.model, "corpus": run.corpus, "device": device,
            "utterances": run.computed,
            "planned_s": float(f"{planned_s:.3g}"), "measured_s": float(f"{measured_s:.3g}"),
            "measured_over_planned": round(measured_s / planned_s, 2) if planned_s else float("nan"),
            "planned_disk_mb": round((planned["pooled_bytes"] + planned["frames_bytes"]) / 1e6, 1),
            "written_disk_mb": round(written / 1e6, 1),
            "planned_batch_memory_gb": round(planned[f"peak_batch_{device}_bytes"] / 2**30, 2),
            "measured_peak_memory_gb": measured_memory,
        })
    return pd.DataFrame(rows, columns=PLAN_VS_MEASURED_COLUMNS)


def extraction_seconds_of(config: StudyConfig, model, corpus_id: str, device: str) -> float:
    """The planned seconds of one model run over one corpus on ``device`` (``cpu`` or ``cuda``),
    without its load and frame writes: what rerunning the model costs the frame-level stage."""
    architecture = architecture_of(model.source)
    if architecture is None:
        return float("inf")
    measured = load_measurements()["extraction"][device_kind(device)]
    size = corpus_size(config, corpus_id)
    return extraction_seconds(architecture, size.mean_seconds, size.utterances, measured,
                              config.extraction.get("whisper_window", "full"), device.split(":")[0])


def frames_disk_rate(device: str) -> float:
    """Bytes per second at which a spill file is written (the frame-store write rate of that kind
    of machine, ``frames_write_mb_per_s``; 200 MB/s where none is given)."""
    return disk_bytes_per_s(load_measurements()["extraction"][device_kind(device)])


__all__ = [
    "NOTEBOOK_POOLED_PROBES",
    "extraction_seconds_of",
    "frame_probe_runs",
    "frames_disk_rate",
    "plan_study",
    "plan_summary",
    "planned_extraction_seconds",
    "planned_run_seconds",
    "planned_vs_measured",
    "pooled_probe_runs",
    "run_device",
]
