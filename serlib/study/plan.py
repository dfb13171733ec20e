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
  group; one where notebook 02 cannot hand its frames over because they do not fit the budget
  twice; one to fill a spill file), a load of the model for the stage where it runs the model,
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
- **memory**: the larger of one extraction batch (weights + the batch's captured hidden states
  + one layer's attention scores + the first conv layer's output) and the frames held for the
  frame-level probes.

Folds come from the profile's split files (``work/<profile>/manifests/<id>.split-<protocol>-
seed<k>.csv``, written by notebook 01) where they exist, else from the rules of
:mod:`serlib.data.splits` applied to the corpus's speakers. Corpus sizes come from the profile's
manifests when they exist, else from :data:`TYPICAL_CORPORA`. Not planned: notebook 07's
data-scaling curves and layer selection, notebook 08's transfer probes, notebook 09's runs on
degraded test audio, notebook 10's attribute probes, downloads, the report. Torch and transformers are not imported: ``./run_all.sh`` prints the plan before a
long run.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import pandas as pd

from serlib.common.errors import SerlibError
from serlib.data.emobox import emobox_path
from serlib.data.splits import GROUPED_FOLDS, LEAVE_ONE_SPEAKER_OUT_MAX, split_path
from serlib.features.cost import (ACOUSTIC_WIDTHS, WHISPER_WINDOW_SECONDS, Architecture, architecture_of,
                                  frame_probe_macs)
from serlib.features.frames import FRAME_MEMORY_SHARE, plan_frame_memory
from serlib.features.registry import ACOUSTIC_PREFIX, DEFAULT_BATCH_SECONDS, SAMPLE_RATE
from serlib.probing.kinds import PROBE_KINDS, get_probe_kind
from serlib.study.capacity import variant_probes
from serlib.study.config import EMOBOX, ModelSpec, StudyConfig
from serlib.study.probe_cache import probe_label, probe_settings, probes_run_under
from serlib.study.stores import feature_folder

MEASUREMENTS_FILE = "measured_throughput.json"
#: A profile whose fresh run is planned to take longer than this prints its plan in run_all.
LONG_RUN_SECONDS = 600.0
#: The pooled probes notebooks 03-05 train on every model x corpus their ``per_probe`` lists allow,
#: under every protocol they run under (notebook 09 adds the capacity variants of
#: :func:`serlib.study.capacity.variant_probes` under the main protocol).
NOTEBOOK_POOLED_PROBES = ("linear", "softmax", "dense-pooled", "aggregate-pooled", "aggregate-softmax",
                          "aggregate-concat", "aggregate-hierconv", "cumulative")
#: The probes that read frames.
FRAME_PROBES = tuple(name for name, kind in PROBE_KINDS.items() if kind.input == "frames")
#: Classes where the corpus's labels are not known yet (the output layer is < 0.1% of the count).
DEFAULT_CLASSES = 7
#: Columns of the plan with one pooled probe's CPU seconds: ``pooled_s_<label>_cpu_s``.
POOLED_PREFIX = "pooled_s_"
#: Disk rate where a device's was not measured (bytes per second).
DEFAULT_DISK_BYTES_PER_S = 200e6
#: How the frames of a model x corpus are held (:class:`serlib.features.frames.FrameMemoryPlan`),
#: and ``too-large`` where one hidden state exceeds the budget (the stage would stop).
FRAME_MODES = ("memory", "chunks", "spill", "too-large")


@dataclass(frozen=True)
class CorpusSize:
    """How much audio a corpus holds: utterances, total and longest duration, and where from;
    its speakers and classes where known (0: not known)."""

    corpus_id: str
    utterances: int
    total_seconds: float
    max_seconds: float
    source: str
    speakers: int = 0
    classes: int = 0

    @property
    def mean_seconds(self) -> float:
        return self.total_seconds / max(self.utterances, 1)


@dataclass(frozen=True)
class FoldSize:
    """One fold of a protocol: utterances and seconds of audio in training and evaluated (dev + test)."""

    train_utterances: float
    evaluated_utterances: float
    train_seconds: float
    evaluated_seconds: float


#: name -> (utterances, mean seconds, longest seconds, speakers, source). Counts and speakers:
#: the corpora's papers (see ../shared/REFERENCE.md); mean durations: approximate, from the
#: corpora's published total durations; a manifest replaces these as soon as notebook 01 has run.
TYPICAL_CORPORA: dict[str, tuple[int, float, float, int, str]] = {
    "emodb": (535, 2.8, 8.0, 10, "535 utterances, 24.8 min, 10 speakers (Burkhardt et al. 2005)"),
    "shemo": (3000, 4.1, 12.0, 87, "3000 utterances, 3 h 25 min, 87 speakers (Mohamad Nezami et al. 2019)"),
    "aesdd": (604, 4.0, 10.0, 6, "about 600 utterances of 2-8 s, 6 actors (Vryzas et al. 2018); approximate"),
    "emovo": (588, 3.1, 9.0, 6, "588 utterances, short sentences, 6 actors (Costantini et al. 2014); approximate"),
    "cafe": (936, 4.4, 9.0, 12, "936 utterances, 12 actors (Gournay et al. 2018); approximate"),
    "ravdess": (1440, 3.7, 5.3, 24, "1440 speech clips of 3-5 s, 24 actors (Livingstone & Russo 2018)"),
    "iemocap": (5531, 4.5, 34.0, 10, "5531 utterances in the 4-class setup, about 7 h, 10 speakers; clips up to 34 s"),
    "synthetic": (360, 2.0, 4.0, 24, "serlib synth default, 4 voices per language; approximate"),
}
#: The synthetic corpus holds six languages; a profile's corpus keeps one.
SYNTHETIC_LANGUAGES = 6


def corpus_size(config: StudyConfig, corpus_id: str) -> CorpusSize:
    """Sizes from the profile's manifest when it exists, else the typical size of the corpus."""
    manifest = config.manifest_dir / f"{corpus_id}.csv"
    if manifest.is_file():
        table = pd.read_csv(manifest, usecols=lambda column: column in ("duration_s", "speaker", "label"))
        durations = table["duration_s"]
        return CorpusSize(corpus_id, len(durations), float(durations.sum()), float(durations.max()),
                          f"manifest {manifest}",
                          int(table["speaker"].nunique()) if "speaker" in table else 0,
                          int(table["label"].nunique()) if "label" in table else 0)
    spec = config.corpus(corpus_id)
    name = spec.name
    if spec.generate:  # a generated rehearsal tree: its sizes are known before it is written
        from serlib.data.layouts import clip_seconds, layout_clips

        clips = layout_clips(name)
        seconds = [clip_seconds(name, index) for index in range(len(clips))]
        return CorpusSize(corpus_id, len(seconds), float(sum(seconds)), float(max(seconds)),
                          "generated layout tree (serlib.data.layouts)",
                          len({clip.speaker for clip in clips}), len({clip.emotion for clip in clips}))
    if name not in TYPICAL_CORPORA:
        return CorpusSize(corpus_id, 0, 0.0, 0.0, "unknown: run notebook 01 for a manifest")
    count, mean, longest, speakers, source = TYPICAL_CORPORA[name]
    if name == "synthetic":
        count //= SYNTHETIC_LANGUAGES
        speakers //= SYNTHETIC_LANGUAGES
    return CorpusSize(corpus_id, count, count * mean, longest, f"typical: {source}", speakers)


# --- folds -------------------------------------------------------------------------------------


def estimated_folds(protocol: str, size: CorpusSize, repeats: int) -> tuple[list[FoldSize], str]:
    """The folds :mod:`serlib.data.splits` would make of ``size``, and how they were estimated.

    ``random``: ``repeats`` folds of 60/20/20; ``speaker-cv`` (and ``emobox``, whose published
    folds are not known before they are read): leave one speaker out up to 12 speakers, grouped
    5-fold beyond, dev = ``max(1, round(K / 5))`` folds of the training speakers; ``session-cv``:
    5 folds, test one session, dev 20% of the other four; ``speaker``: one 60/20/20 fold.
    """
    def folds(count: int, train: float, evaluated: float) -> list[FoldSize]:
        return [FoldSize(size.utterances * train, size.utterances * evaluated,
                         size.total_seconds * train, size.total_seconds * evaluated)] * count

    if protocol == "random":
        return folds(repeats, 0.6, 0.4), f"{repeats} repeats of 60/20/20"
    if protocol == "speaker":
        return folds(1, 0.6, 0.4), "one speaker-independent 60/20/20 split"
    if protocol == "session-cv":
        return folds(GROUPED_FOLDS, 0.8 * 0.8, 0.2 + 0.8 * 0.2), "5 sessions, one left out"
    speakers = size.speakers
    if speakers < 3:
        return [], f"{speakers or 'unknown'} speakers: no speaker cross-validation"
    count = speakers if speakers <= LEAVE_ONE_SPEAKER_OUT_MAX else GROUPED_FOLDS
    dev = max(1, round(count / GROUPED_FOLDS))
    how = "leave one speaker out" if count == speakers else "grouped 5-fold"
    note = " (EmoBox's folds estimated as speaker-cv)" if protocol == EMOBOX else ""
    return (folds(count, (count - 1 - dev) / count, (1 + dev) / count),
            f"{speakers} speakers, {how}, dev {dev} fold(s){note}")


def split_file_folds(split_file: str | Path, manifest_file: str | Path) -> list[FoldSize]:
    """The folds of a written split file, with each utterance's duration from the manifest."""
    split = pd.read_csv(split_file, usecols=["utterance_id", "fold", "split"], dtype={"utterance_id": str})
    durations = pd.read_csv(manifest_file, usecols=["utterance_id", "duration_s"], dtype={"utterance_id": str})
    table = split.merge(durations, on="utterance_id", how="left")
    table["duration_s"] = table["duration_s"].fillna(0.0)
    folds = []
    for _, fold in table.groupby("fold", sort=True):
        train = fold[fold["split"] == "train"]
        evaluated = fold[fold["split"] != "train"]
        folds.append(FoldSize(len(train), len(evaluated), float(train["duration_s"].sum()),
                              float(evaluated["duration_s"].sum())))
    return folds


def protocol_folds(config: StudyConfig, corpus_id: str, protocol: str,
                   size: CorpusSize) -> tuple[list[FoldSize], str]:
    """The folds of ``protocol`` on a corpus: from its split file once notebook 01 has written it
    (``split file <name>``), else :func:`estimated_folds` (``estimated: ...``)."""
    manifest = config.manifest_dir / f"{corpus_id}.csv"
    written = (emobox_path(manifest, config.split_seed) if protocol == EMOBOX
               else split_path(manifest, protocol, config.split_seed))
    if manifest.is_file() and written.is_file():
        return split_file_folds(written, manifest), f"split file {written.name}"
    folds, how = estimated_folds(protocol, size, config.split_repeats)
    return folds, f"estimated: {how}"


# --- measured rates ----------------------------------------------------------------------------


def load_measurements(path: str | Path | None = None) -> dict:
    """The measured rates (``measured_throughput.json``): per device and for the probe grids."""
    text = (Path(path).read_text() if path else
            resources.files("serlib.study").joinpath(MEASUREMENTS_FILE).read_text())
    return json.loads(text)


def _device_kind(device: str) -> str:
    return "cuda" if device.startswith("cuda") else "cpu"


def extraction_seconds(architecture: Architecture, durations: list[float] | float,
                       utterances: int, measured: dict, whisper_window: str = "full",
                       device: str = "cpu") -> float:
    """Expected engine time of one run over ``utterances`` clips (one duration, or each one's),
    without the model's load and without frame-store writes.

    ``measured``: ``device``'s entry of ``measured_throughput.json``: compute at
    ``effective_gmacs_per_s``, plus ``run_overhead_s`` once, ``utterance_overhead_s`` per clip,
    and ``unbatched_clip_overhead_s`` per clip where the model runs one clip per batch.
    """
    if isinstance(durations, (int, float)):
        durations = [float(durations)] * utterances
    compute = sum(architecture.macs(seconds, whisper_window) for seconds in durations) / (
        measured["effective_gmacs_per_s"] * 1e9)
    one_clip_batches = (architecture.equal_length_batches_gpu if device == "cuda"
                        else architecture.equal_length_batches)
    per_clip = measured.get("utterance_overhead_s", 0.0) + (
        measured.get("unbatched_clip_overhead_s", 0.0) if one_clip_batches else 0.0)
    return compute + measured.get("run_overhead_s", 0.0) + per_clip * len(durations)


def model_load_seconds(architecture: Architecture, measured: dict, first: bool = False) -> float:
    """Seconds to load (or build) a model: ``model_load_s`` of the device's entry, a base plus
    seconds per million encoder parameters, plus the first load's extra in a process."""
    load = measured.get("model_load_s") or {}
    seconds = load.get("base_s", 0.0) + load.get("per_million_parameters_s", 0.0) * architecture.parameters() / 1e6
    return seconds + (load.get("first_load_extra_s", 0.0) if first else 0.0)


def acoustic_seconds(feature_set: str, audio_seconds: float, measured: dict) -> float:
    """Seconds of an acoustic baseline over ``audio_seconds`` of audio (``acoustic_s_per_audio_s``)."""
    rates = measured.get("acoustic_s_per_audio_s") or {}
    return rates[feature_set] * audio_seconds if feature_set in rates else float("nan")


def frames_write_seconds(frames_bytes: float, measured: dict) -> float:
    """Time to write a frame store of ``frames_bytes`` (chunks, then the assembled store) at the
    device entry's ``frames_write_mb_per_s``; 0 where there is none."""
    rate = measured.get("frames_write_mb_per_s")
    return frames_bytes / 1e6 / rate if rate else 0.0


def disk_bytes_per_s(measured: dict) -> float:
    """The device entry's disk rate for frames (``frames_write_mb_per_s``), in bytes per second."""
    return float(measured.get("frames_write_mb_per_s", DEFAULT_DISK_BYTES_PER_S / 1e6)) * 1e6


def frame_budget(config: StudyConfig, device: str, measured: dict) -> tuple[float, str]:
    """The frame memory budget on ``device`` and where it comes from: the profile's
    ``extraction.frame_memory_gb``, else the share :func:`serlib.features.frames.default_frame_budget`
    takes of the device's memory (:data:`~serlib.features.frames.FRAME_MEMORY_SHARE`: half on a
    CPU, 85% on a GPU) of the machine in the JSON."""
    setting = config.extraction.get("frame_memory_gb")
    if setting:
        return float(setting) * 1e9, "extraction.frame_memory_gb"
    share = FRAME_MEMORY_SHARE["cuda" if _device_kind(device) == "cuda" else "cpu"]
    memory = float(measured.get("memory_bytes", 0))
    size = f"{memory / 2**30:.0f} GiB" if memory % 2**30 == 0 else f"{memory / 1e9:.0f} GB"
    return share * memory, f"{share:.0%} of the {size} of {measured.get('name', device)}"


def peak_batch_bytes(architecture: Architecture, longest_seconds: float, device: str,
                     compute_bytes: int) -> int:
    """Peak memory of one batch: weights, captured hidden states, attention scores, first conv."""
    budget = DEFAULT_BATCH_SECONDS[device]
    per_item = WHISPER_WINDOW_SECONDS if architecture.is_whisper else longest_seconds
    batch = max(1, int(budget // max(per_item, 1e-9)))
    frames = per_item * architecture.frame_rate
    states = batch * architecture.hidden_states * frames * architecture.width * compute_bytes
    scores = batch * architecture.heads * frames**2 * compute_bytes
    first_conv = 0 if architecture.is_whisper else (
        batch * per_item * SAMPLE_RATE / architecture.conv_stride[0] * architecture.conv_dim[0] * 4
    )
    return int(architecture.parameters() * compute_bytes + states + scores + first_conv)


def _compute_bytes(config: StudyConfig, device: str) -> int:
    """Bytes per value of the engine's compute dtype: the profile's ``dtype``, else bfloat16 on a
    GPU and float32 on a CPU (the rates in the JSON were measured so)."""
    dtype = config.extraction.get("dtype", "auto")
    if dtype in ("float32", "bfloat16", "float16"):
        return 4 if dtype == "float32" else 2
    return 2 if device == "cuda" else 4


def pooled_probe_seconds(probe: str, hidden_states: int, width: int, folds: list[FoldSize], seeds: int,
                         epochs: int, reference: dict) -> float:
    """CPU seconds of one pooled probe over every fold of a protocol: the reference grid's
    measured seconds (``probes.cpu`` of the JSON) scaled linearly in training utterances summed
    over the folds, hidden states, width, seeds and epochs. A probe fitted by scikit-learn
    (``aggregate-concat``) fits once per fold, whatever the seeds and epochs."""
    seconds = reference["seconds"].get(probe)
    if seconds is None:
        return float("nan")
    if get_probe_kind(probe).trainer == "sklearn":
        seeds, epochs = reference["seeds"], reference["epochs"]
    training = sum(fold.train_utterances for fold in folds)
    return seconds * (training / reference["training_utterances"]) * (hidden_states / reference["hidden_states"]) * (
        width / reference["width"]) * (seeds / reference["seeds"]) * (epochs / reference["epochs"])


def _pooled_ratio(measurements: dict, device: str, probe: str = "linear") -> float:
    """A pooled probe's seconds on ``device`` per CPU second (1 on the CPU, the reference); a
    probe fitted by scikit-learn runs on the host's CPU whatever the device (``sklearn_ratio_to_cpu``)."""
    if device == "cpu":
        return 1.0
    entry = measurements.get("probes", {}).get(device) or {}
    key = "sklearn_ratio_to_cpu" if get_probe_kind(probe).trainer == "sklearn" else "ratio_to_cpu"
    return float(entry.get(key, entry.get("ratio_to_cpu", float("nan"))))


def _frame_rate(measurements: dict, device: str, probe: str) -> float:
    """Multiply-adds per second of a frame-level probe on ``device`` (NaN where none is given)."""
    entry = (measurements.get("frame_probes", {}).get(device) or {}).get(probe) or {}
    return float(entry.get("effective_gmacs_per_s", float("nan"))) * 1e9


# --- what the profile runs ---------------------------------------------------------------------


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
                   run_seconds: float) -> dict:
    """How a model x corpus's frames are held on ``device`` and what holding them costs."""
    budget, _ = frame_budget(config, device, measured)
    rate = disk_bytes_per_s(measured)
    bank = frames * width * 2 * states
    try:
        plan = plan_frame_memory(int(frames), size.utterances, states, width, budget, needs_all_layers,
                                 frames_on_disk=keep_frames, rerun_seconds=run_seconds, disk_bytes_per_s=rate)
    except SerlibError as error:
        return {"mode": "too-large", "groups": 0, "memory": 0, "spill": 0, "runs": 0, "disk_s": 0.0,
                "why": str(error)}
    groups = len(plan.chunks)
    # notebook 02 hands its frames over when they fit the budget (wants_frames_in_memory)
    handed = plan.mode == "memory" and not keep_frames
    if plan.mode == "memory":  # else they come from the kept store, or from one more model run
        runs, disk = (0, bank) if keep_frames else (0 if handed else 1, 0.0)
    elif plan.mode == "chunks":  # a group per model run, or per read of the frame-major store
        runs, disk = (0, groups * bank) if keep_frames else (groups, 0.0)
    else:  # one model run fills the spill file; it is read back once
        runs, disk = 1, 2 * plan.spill_bytes
    return {"mode": plan.mode, "groups": groups, "memory": plan.peak_memory_bytes, "spill": plan.spill_bytes,
            "runs": runs, "disk_s": disk / rate, "why": plan.reason, "in_extraction": handed}


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
            pooled, kinds = {}, {}
            for label, probe, protocol, settings in pooled_probe_runs(config, spec, states):
                kinds[label] = probe
                pooled[label] = pooled.get(label, 0.0) + pooled_probe_seconds(
                    probe, states, width, protocols[protocol][0], settings["seeds"], settings["epochs"], reference)
            row["pooled_probes"] = ", ".join(pooled)
            row.update({f"{POOLED_PREFIX}{label}_cpu_s": seconds for label, seconds in pooled.items()})
            for device, measured in devices.items():
                if architecture:
                    run_seconds = extraction_seconds(architecture, size.mean_seconds, size.utterances, measured,
                                                     window, device)
                    extract = run_seconds + frames_write_seconds(row["frames_bytes"], measured)
                    batch = peak_batch_bytes(architecture, size.max_seconds, device, _compute_bytes(config, device))
                else:
                    run_seconds = extract = acoustic_seconds(acoustic, size.total_seconds, measured)
                    batch = 0
                held = (_frame_holding(config, frames, size, states, width, device, measured,
                                       any(probe == "aggregate" for probe, _ in frame_runs), keep_frames, run_seconds)
                        if frame_runs else None)
                frame_seconds = sum(value / _frame_rate(measurements, device, probe)
                                    for probe, value in macs.items() if value)
                row.update({
                    f"extract_{device}_s": extract,
                    f"frames_held_{device}": held["mode"] if held else "",
                    f"frame_groups_{device}": held["groups"] if held else 0,
                    f"frame_runs_{device}": held["runs"] if held else 0,
                    f"frames_in_extraction_{device}": bool(held and held.get("in_extraction")),
                    f"frame_holding_{device}_s": (held["runs"] * run_seconds + held["disk_s"]) if held else 0.0,
                    f"frame_probe_{device}_s": float(frame_seconds),
                    f"pooled_probe_{device}_s": sum(seconds * _pooled_ratio(measurements, device, kinds[label])
                                                    for label, seconds in pooled.items()),
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


def _source(entry: dict, key: str = "source") -> str:
    """The short provenance of a JSON entry: ``ASSUMED`` where it was assumed."""
    if isinstance(entry.get("assumed"), str):
        return "ASSUMED, see below"
    return entry.get(key) or f"{entry.get('machine', '')}, {entry.get('date', '')}"


def _device_sources(measurements: dict, device: str, keep_frames: bool) -> dict[str, str]:
    """Every rate the plan uses on ``device``, with its short provenance (the full one is in
    ``measured_throughput.json``; assumed rates are listed apart)."""
    measured = measurements["extraction"][device]
    load = measured.get("model_load_s") or {}
    acoustic = measured.get("acoustic_s_per_audio_s") or {}
    frame = measurements.get("frame_probes", {}).get(device) or {}
    pooled = measurements.get("probes", {}).get(device) or {}
    overheads = ("ASSUMED, see below" if "overheads_assumed" in measured
                 else measured.get("overheads_source", "not measured"))
    disk = ("ASSUMED, see below" if "frames_write_assumed" in measured
            else measured.get("frames_write_source", _source(measured)))
    sources = {
        "extraction": f"{measured['effective_gmacs_per_s']:.0f} GMAC/s, {measured['dtype']} ({_source(measured)})",
        "model loads": (f"{load.get('base_s', 0):.2f} s + {load.get('per_million_parameters_s', 0):.4f} s per million "
                        f"parameters, +{load.get('first_load_extra_s', 0):.2f} s for a process's first "
                        f"({_source(load) if load else 'not measured'})"),
        "overheads": (f"{measured.get('run_overhead_s', 0):.2f} s per run + "
                      f"{measured.get('utterance_overhead_s', 0) * 1000:.1f} ms per utterance ({overheads})"),
        "acoustic baselines": (" / ".join(f"{name} {acoustic[name]:.4f}" for name in ACOUSTIC_WIDTHS if name in acoustic)
                               + f" s per second of audio ({_source(acoustic)})"),
        "disk": f"{disk_bytes_per_s(measured) / 1e6:.0f} MB/s for frame stores and spill files ({disk})",
        "frame-level probes": (" / ".join(f"{probe} {frame[probe]['effective_gmacs_per_s']:.0f}" for probe in FRAME_PROBES
                                          if probe in frame) + f" GMAC/s ({_source(frame)})"),
    }
    if device == "cpu":
        sources["pooled probes"] = (f"each kind's seconds on {pooled['utterances']} x {pooled['hidden_states']} x "
                                    f"{pooled['width']}, {pooled['folds']} folds, {pooled['seeds']} seed, "
                                    f"{pooled['epochs']} epochs, scaled linearly ({_source(pooled)})")
    else:
        sklearn = pooled.get("sklearn_ratio_to_cpu")
        sources["pooled probes"] = (f"the CPU's seconds x {_pooled_ratio(measurements, device):.4f}"
                                    + (f", scikit-learn's x {sklearn:.3f}" if sklearn else "") + f" ({_source(pooled)})")
    return sources


def _assumptions(measurements: dict) -> list[str]:
    """Every rate the plan uses that was assumed, not measured (what the JSON says so of)."""
    found = []
    for section in ("extraction", "frame_probes", "probes"):
        for device, entry in (measurements.get(section) or {}).items():
            for key, value in entry.items():
                text = value.get("assumed") if isinstance(value, dict) else (value if "assumed" in key else None)
                if isinstance(text, str):
                    found.append(f"{section}.{device}.{key}: {text}")
    return found


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
            "pooled_probe_s_by_probe": _pooled_by_probe(config, plan, measurements, device),
            "frame_probe_s_by_probe": {
                probe: float(plan[f"frame_macs_{probe}"].sum()) / _frame_rate(measurements, device, probe)
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
            "sources": _device_sources(measurements, device, keep_frames),
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
        "assumed": _assumptions(measurements),
        "not_planned": "notebook 07's data-scaling curves and layer selection, notebook 08's transfer probes, "
                       "notebook 09's runs on degraded test audio, notebook 10's attribute probes, downloads, "
                       "the report",
        "rows": _records(plan),
    }


def _pooled_by_probe(config: StudyConfig, plan: pd.DataFrame, measurements: dict, device: str) -> dict[str, float]:
    """Seconds of each pooled probe (by its label) on ``device``, summed over the plan's rows."""
    kinds = {label: probe for spec in config.models
             for label, probe, _, _ in pooled_probe_runs(config, spec, 2)}
    seconds = {}
    for column in plan.columns:
        if column.startswith(POOLED_PREFIX):
            label = column[len(POOLED_PREFIX):-len("_cpu_s")]
            ratio = _pooled_ratio(measurements, device, kinds.get(label, "linear"))
            seconds[label] = float(plan[column].sum()) * ratio
    return seconds


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


def plan_json(summary: dict) -> str:
    """:func:`plan_summary`'s dict as indented JSON text (NaN, not planned, as null)."""
    def ready(value):
        if isinstance(value, dict):
            return {key: ready(item) for key, item in value.items()}
        if isinstance(value, list):
            return [ready(item) for item in value]
        if isinstance(value, float) and math.isnan(value):
            return None
        return value.item() if hasattr(value, "item") else value

    return json.dumps(ready(summary), indent=2, allow_nan=False) + "\n"


# --- the plan as text --------------------------------------------------------------------------


def _human_bytes(value: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return ""


def _human_seconds(value: float) -> str:
    if value != value:  # NaN: not planned
        return "-"
    return f"{value:.0f} s" if value < 120 else (
        f"{value / 60:.0f} min" if value < 7200 else f"{value / 3600:.1f} h")


def format_plan(config: StudyConfig, plan: pd.DataFrame, measurements: dict | None = None,
                summary: dict | None = None) -> str:
    """The plan as text: disk and frames per model; per device a table of the models (load,
    extraction, holding frames, frame-level probes, pooled probes, total, peak memory) and its
    total; the totals, disk and frame memory; the sources of every rate and the assumed ones."""
    measurements = measurements or load_measurements()
    summary = summary or plan_summary(config, plan, measurements)
    lines = [f"plan for profile {config.profile!r}: {len(config.models)} models x {len(config.corpora)} corpora, "
             f"{summary['audio_h']:.2f} h of audio"]
    lines.append(f"  {'model':28s} {'pooled':>9s} {'kept frames':>12s} {'frame bank':>11s}  frame-level probes")
    for model, rows in plan.groupby("model", sort=False):
        if "pooled_bytes" not in rows or rows["pooled_bytes"].isna().all():
            lines.append(f"  {model:28s} (unknown model: not planned)")
            continue
        probes = rows["frame_probes"].iloc[0] if "frame_probes" in rows else ""
        lines.append(f"  {model:28s} {_human_bytes(rows['pooled_bytes'].sum()):>9s} "
                     f"{_human_bytes(rows['frames_bytes'].sum()):>12s} {_human_bytes(rows['bank_bytes'].max()):>11s}  "
                     f"{probes or '-'}")
    lines.append("  (frame bank: the largest corpus's frames, float16, held while the frame-level probes train)")
    parts = (("load", "load_s"), ("extraction", "extraction_s"), ("frames held", "frame_holding_s"),
             ("frame probes", "frame_probe_s"), ("pooled probes", "pooled_probe_s"), ("total", "total_s"))
    for device, entry in summary["devices"].items():
        name = measurements["extraction"][device].get("name", device)
        lines.append(f"  {device}, {name}: seconds per model, summed over the corpora")
        lines.append(f"  {'model':28s}" + "".join(f" {label:>13s}" for label, _ in parts) + f" {'peak memory':>12s}")
        for model in entry["models"]:
            lines.append(f"  {model['model']:28s}" + "".join(f" {_human_seconds(model[key]):>13s}" for _, key in parts)
                         + f" {_human_bytes(model['peak_memory_bytes']):>12s}")
        lines.append(f"  {'total ' + device:28s}" + "".join(f" {_human_seconds(entry[key]):>13s}" for _, key in parts)
                     + f" {_human_bytes(entry['peak_memory_bytes']):>12s}")
    for device, entry in summary["devices"].items():
        lines.append(f"  total {device}: {_human_seconds(entry['total_s'])} = extraction "
                     f"{_human_seconds(entry['extraction_s'])} (loads {_human_seconds(entry['load_s'])}) + frames held "
                     f"{_human_seconds(entry['frame_holding_s'])} + frame-level probes "
                     f"{_human_seconds(entry['frame_probe_s'])} + pooled probes {_human_seconds(entry['pooled_probe_s'])}")
    spill = max((entry["largest_spill_bytes"] for entry in summary["devices"].values()), default=0.0)
    lines.append(f"  disk: {_human_bytes(summary['peak_disk_bytes'])} at the peak (pooled stores "
                 f"{_human_bytes(summary['pooled_disk_bytes'])} + kept frame stores "
                 f"{_human_bytes(summary['kept_frames_bytes'])} + the largest spill file {_human_bytes(spill)}, one at a "
                 f"time), {_human_bytes(summary['kept_disk_bytes'])} kept at the end")
    for device, entry in summary["devices"].items():
        held = entry["frames_held"]
        too_large = (f", {held['too-large']} too large for the budget (raise extraction.frame_memory_gb)"
                     if held["too-large"] else "")
        lines.append(f"  frame memory, {device} (budget {_human_bytes(entry['frame_memory_budget_bytes'])}, "
                     f"{entry['frame_memory_budget_from']}): of the model x corpus pairs with frame-level probes, "
                     f"{held['memory']} held whole, {held['chunks']} in groups of hidden states, {held['spill']} "
                     f"spilled to disk{too_large}")
    corpora = summary["corpora"]
    lines.append("  corpus sizes: " + "; ".join(f"{corpus['corpus']}: {corpus['sizes_from']}" for corpus in corpora))
    lines.append("  folds: " + "; ".join(f"{corpus['corpus']}: {corpus['folds_from']}" for corpus in corpora))
    for device, entry in summary["devices"].items():
        lines.append(f"  rates, {device}:")
        lines += [f"    {name}: {source}" for name, source in entry["sources"].items()]
    for assumption in summary["assumed"]:
        lines.append(f"  ASSUMED, not measured: {assumption}")
    lines.append(f"  not planned: {summary['not_planned']}")
    return "\n".join(lines)


def _run_device(config: StudyConfig) -> str:
    return "cuda" if config.extraction.get("device") == "cuda" else "cpu"


def long_run_plan(config: StudyConfig) -> str:
    """The plan's text when the profile's fresh run is planned to exceed :data:`LONG_RUN_SECONDS`.

    Planned for the profile's ``extraction.device`` (``cpu`` unless it says ``cuda``); an empty
    string for a short run, so ``./run_all.sh demo`` stays quiet. Caches already filled are not
    subtracted: the figure is the cost of a fresh run.
    """
    measurements = load_measurements()
    plan = plan_study(config, measurements)
    summary = plan_summary(config, plan, measurements)
    entry = summary["devices"].get(_run_device(config))
    if entry is None or not entry["total_s"] > LONG_RUN_SECONDS:
        return ""
    return format_plan(config, plan, measurements, summary) + "\n"


def planned_run_seconds(config: StudyConfig) -> dict | None:
    """The plan of a fresh run on the profile's device: ``extraction_s`` (notebook 02's model
    runs and loads), ``frames_in_extraction_probe_s`` (the frame-level probes notebook 02
    trains on the frames it hands over) and ``total_s``; None when no model is planned."""
    measurements = load_measurements()
    plan = plan_study(config, measurements)
    column = f"extract_{_run_device(config)}_s"
    if column not in plan or not plan[column].notna().any():
        return None
    return plan_summary(config, plan, measurements)["devices"][_run_device(config)]


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
    measured = load_measurements()["extraction"][_device_kind(device)]
    size = corpus_size(config, corpus_id)
    return extraction_seconds(architecture, size.mean_seconds, size.utterances, measured,
                              config.extraction.get("whisper_window", "full"), device.split(":")[0])


def frames_disk_rate(device: str) -> float:
    """Bytes per second at which a spill file is written (the frame-store write rate of that kind
    of machine, ``frames_write_mb_per_s``; 200 MB/s where none is given)."""
    return disk_bytes_per_s(load_measurements()["extraction"][_device_kind(device)])


__all__ = [
    "CorpusSize",
    "FoldSize",
    "NOTEBOOK_POOLED_PROBES",
    "TYPICAL_CORPORA",
    "acoustic_seconds",
    "corpus_size",
    "estimated_folds",
    "extraction_seconds",
    "extraction_seconds_of",
    "format_plan",
    "frame_budget",
    "frame_probe_runs",
    "frames_disk_rate",
    "frames_write_seconds",
    "load_measurements",
    "long_run_plan",
    "model_load_seconds",
    "peak_batch_bytes",
    "plan_json",
    "plan_study",
    "plan_summary",
    "planned_extraction_seconds",
    "planned_run_seconds",
    "planned_vs_measured",
    "pooled_probe_runs",
    "pooled_probe_seconds",
    "protocol_folds",
    "split_file_folds",
]
