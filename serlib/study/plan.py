"""``serlib plan PROFILE``: what a profile's run will cost, before running it.

For every model x corpus of a profile it estimates, without loading a model or reading audio:

- **extraction time** per device: multiply-adds of the model over the corpus (counted from the
  architecture: conv stack, transformer blocks, attention over each utterance, positional
  convolution; Whisper's full window costs 30 s of audio per clip whatever its length) divided
  by the rate the engine reached in ``benchmarks/extract_throughput.py`` on that device
  (``measured_throughput.json`` beside this module: date, machine and figures), plus, where
  frames are kept and the device's frame-store write rate was measured, the time to write them;
- **disk**: pooled store ``N x (L+1) x D x 4`` bytes (x2 for mean+std), frame store (float16)
  ``frames/s x seconds x (L+1) x D x 2`` bytes when the profile keeps frames;
- **peak memory per batch**: weights + the batch's captured hidden states + one layer's
  attention scores + the first conv layer's output;
- **probe-training time** of the linear grid, scaled from the probe benchmark's measured grid.

Corpus sizes come from the profile's manifests (``work/<profile>/manifests/<id>.csv``) when they
exist, else from :data:`TYPICAL_CORPORA` (counts from the corpora's papers, mean durations
approximate). Model sizes come from serlib's bundled configs, a local ``config.json``, or the
tiny test configs. Torch and transformers are not imported: ``./run_all.sh`` prints the plan
before a long run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import pandas as pd

from serlib.features.cost import WHISPER_WINDOW_SECONDS, Architecture, architecture_of
from serlib.features.registry import DEFAULT_BATCH_SECONDS, SAMPLE_RATE
from serlib.study.config import StudyConfig
from serlib.study.stores import feature_folder

MEASUREMENTS_FILE = "measured_throughput.json"
#: A profile whose fresh extraction is planned to take longer than this prints its plan in run_all.
LONG_RUN_SECONDS = 600.0


@dataclass(frozen=True)
class CorpusSize:
    """How much audio a corpus holds: utterances, total and longest duration, and where from."""

    corpus_id: str
    utterances: int
    total_seconds: float
    max_seconds: float
    source: str

    @property
    def mean_seconds(self) -> float:
        return self.total_seconds / max(self.utterances, 1)


#: name -> (utterances, mean seconds, longest seconds, source). Counts: the corpora's papers
#: (see ../shared/REFERENCE.md); mean durations: approximate, from the corpora's published
#: total durations; a manifest replaces these as soon as notebook 01 has run.
TYPICAL_CORPORA: dict[str, tuple[int, float, float, str]] = {
    "emodb": (535, 2.8, 8.0, "535 utterances, 24.8 min (Burkhardt et al. 2005)"),
    "shemo": (3000, 4.1, 12.0, "3000 utterances, 3 h 25 min (Mohamad Nezami et al. 2019)"),
    "aesdd": (604, 4.0, 10.0, "about 600 utterances of 2-8 s (Vryzas et al. 2018); approximate"),
    "emovo": (588, 3.1, 9.0, "588 utterances, short sentences (Costantini et al. 2014); approximate"),
    "cafe": (936, 4.4, 9.0, "936 utterances (Gournay et al. 2018); approximate"),
    "ravdess": (1440, 3.7, 5.3, "1440 speech clips of 3-5 s (Livingstone & Russo 2018)"),
    "iemocap": (5531, 4.5, 34.0, "5531 utterances in the 4-class setup, about 7 h; clips up to 34 s"),
    "synthetic": (360, 2.0, 4.0, "serlib synth default per language; approximate"),
}


def corpus_size(config: StudyConfig, corpus_id: str) -> CorpusSize:
    """Sizes from the profile's manifest when it exists, else the typical size of the corpus."""
    manifest = config.manifest_dir / f"{corpus_id}.csv"
    if manifest.is_file():
        durations = pd.read_csv(manifest, usecols=["duration_s"])["duration_s"]
        return CorpusSize(corpus_id, len(durations), float(durations.sum()), float(durations.max()),
                          f"manifest {manifest}")
    spec = config.corpus(corpus_id)
    name = spec.name
    if spec.generate:  # a generated rehearsal tree: its sizes are known before it is written
        from serlib.data.layouts import layout_clips, clip_seconds

        seconds = [clip_seconds(name, index) for index in range(len(layout_clips(name)))]
        return CorpusSize(corpus_id, len(seconds), float(sum(seconds)), float(max(seconds)),
                          "generated layout tree (serlib.data.layouts)")
    if name not in TYPICAL_CORPORA:
        return CorpusSize(corpus_id, 0, 0.0, 0.0, "unknown: run notebook 01 for a manifest")
    count, mean, longest, source = TYPICAL_CORPORA[name]
    if name == "synthetic":
        count //= 6  # one language of the six
    return CorpusSize(corpus_id, count, count * mean, longest, f"typical: {source}")


def load_measurements(path: str | Path | None = None) -> dict:
    """The measured rates (``measured_throughput.json``): per device and for the probe grid."""
    text = (Path(path).read_text() if path else
            resources.files("serlib.study").joinpath(MEASUREMENTS_FILE).read_text())
    return json.loads(text)


def extraction_seconds(architecture: Architecture, durations: list[float] | float,
                       utterances: int, measured: dict, whisper_window: str = "full",
                       device: str = "cpu") -> float:
    """Expected engine time for ``utterances`` clips (one duration, or each one's duration).

    ``measured``: ``device``'s entry of ``measured_throughput.json`` (``effective_gmacs_per_s``
    and the per-clip overhead of one-clip batches, which matters on a GPU).
    """
    if isinstance(durations, (int, float)):
        durations = [float(durations)] * utterances
    compute = sum(architecture.macs(seconds, whisper_window) for seconds in durations) / (
        measured["effective_gmacs_per_s"] * 1e9)
    overhead = measured.get("unbatched_clip_overhead_s", 0.0) * len(durations)
    one_clip_batches = (architecture.equal_length_batches_gpu if device == "cuda"
                        else architecture.equal_length_batches)
    return compute + (overhead if one_clip_batches else 0.0)


def frames_write_seconds(frames_bytes: float, measured: dict) -> float:
    """Time to write a frame store of ``frames_bytes`` (chunks, then the assembled store) at the
    device entry's measured ``frames_write_mb_per_s``; 0 where that was not measured."""
    rate = measured.get("frames_write_mb_per_s")
    return frames_bytes / 1e6 / rate if rate else 0.0


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


def plan_study(config: StudyConfig, measurements: dict | None = None) -> pd.DataFrame:
    """One row per model x corpus: expected times (s), disk (bytes), peak batch memory (bytes)."""
    measurements = measurements or load_measurements()
    extraction = dict(config.extraction)
    window = extraction.get("whisper_window", "full")
    keep_frames = bool(extraction.get("keep_frames", False))
    pooled_factor = 2 if extraction.get("pooling", "mean") == "mean+std" else 1
    probes = dict(config.probes)
    probe = measurements["probe"]
    rows = []
    for spec in config.models:
        architecture = architecture_of(spec.source)
        for corpus in config.corpora:
            size = corpus_size(config, corpus.corpus_id)
            row = {"model": spec.model_id, "corpus": corpus.corpus_id,
                   "utterances": size.utterances, "audio_h": size.total_seconds / 3600,
                   "sizes_from": size.source}
            if architecture is None:
                rows.append(row)
                continue
            layers, width = architecture.hidden_states, architecture.width
            row["pooled_bytes"] = size.utterances * layers * width * 4 * pooled_factor
            frames = size.total_seconds * architecture.frame_rate
            row["frames_bytes"] = int(frames * layers * width * 2) if keep_frames else 0
            for device, measured in measurements["extraction"].items():
                row[f"extract_{device}_s"] = extraction_seconds(
                    architecture, size.mean_seconds, size.utterances, measured, window, device
                ) + frames_write_seconds(row["frames_bytes"], measured)
            row["peak_batch_cpu_bytes"] = peak_batch_bytes(architecture, size.max_seconds, "cpu", 4)
            row["peak_batch_cuda_bytes"] = peak_batch_bytes(architecture, size.max_seconds, "cuda", 2)
            scale = (size.utterances / probe["utterances"]) * (layers / probe["hidden_states"]) * (
                width / probe["width"]) * (probes.get("seeds", 5) / probe["seeds"]) * (
                probes.get("epochs", 30) / probe["epochs"])
            row["probe_linear_cpu_s"] = (probe["linear_grid_seconds"] or float("nan")) * scale
            rows.append(row)
    return pd.DataFrame(rows)


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


def format_plan(config: StudyConfig, plan: pd.DataFrame, measurements: dict | None = None) -> str:
    """The plan as text: per model totals over the corpora, then the grand total and sources."""
    measurements = measurements or load_measurements()
    devices = list(measurements["extraction"])
    numeric = plan.drop(columns=["corpus", "sizes_from"]).groupby("model", sort=False)
    totals = numeric.sum(numeric_only=True, min_count=1)
    peaks = numeric.max(numeric_only=True)
    lines = [f"plan for profile {config.profile!r}: {len(config.models)} models x "
             f"{len(config.corpora)} corpora, {plan.groupby('corpus')['audio_h'].first().sum():.2f} h "
             "of audio"]
    header = (f"  {'model':28s}" + "".join(f" {'extract ' + d:>13s}" for d in devices)
              + f" {'pooled':>9s} {'frames':>9s} {'peak/batch cpu':>15s} {'cuda':>9s} {'probes cpu':>11s}")
    lines.append(header)
    for model, total in totals.iterrows():
        if pd.isna(total.get("pooled_bytes")):
            lines.append(f"  {model:28s} (acoustic set or unknown model: not planned)")
            continue
        lines.append(
            f"  {model:28s}" + "".join(f" {_human_seconds(total[f'extract_{d}_s']):>13s}" for d in devices)
            + f" {_human_bytes(total['pooled_bytes']):>9s} {_human_bytes(total['frames_bytes']):>9s}"
            f" {_human_bytes(peaks.loc[model, 'peak_batch_cpu_bytes']):>15s}"
            f" {_human_bytes(peaks.loc[model, 'peak_batch_cuda_bytes']):>9s}"
            f" {_human_seconds(total['probe_linear_cpu_s']):>11s}")
    grand = plan.sum(numeric_only=True)
    lines.append(
        f"  {'total':28s}" + "".join(f" {_human_seconds(grand.get(f'extract_{d}_s', float('nan'))):>13s}" for d in devices)
        + f" {_human_bytes(grand.get('pooled_bytes', 0)):>9s} {_human_bytes(grand.get('frames_bytes', 0)):>9s}"
        f" {'':>15s} {'':>9s} {_human_seconds(grand.get('probe_linear_cpu_s', float('nan'))):>11s}")
    lines.append("  corpus sizes: " + "; ".join(
        f"{corpus}: {source}" for corpus, source in plan.groupby("corpus", sort=False)["sizes_from"].first().items()))
    keeps_frames = bool(config.extraction.get("keep_frames", False))
    for device, measured in measurements["extraction"].items():
        frames = (f"; frame stores written at {measured['frames_write_mb_per_s']:.0f} MB/s, "
                  "as measured there (a faster disk writes them sooner)"
                  if keeps_frames and measured.get("frames_write_mb_per_s") else "")
        lines.append(f"  {device} rate: {measured['effective_gmacs_per_s']:.0f} GMAC/s "
                     f"({measured['dtype']}, {measured['machine']}, {measured['date']}){frames}")
    probe = measurements["probe"]
    lines.append(f"  probes: one training of the linear grid per model x corpus (x the folds of "
                 f"each protocol), scaled from {probe['linear_grid_seconds']:.1f} s for "
                 f"{probe['utterances']} x {probe['hidden_states']} x {probe['width']}, "
                 f"{probe['seeds']} seeds, {probe['epochs']} epochs ({probe['machine']}, {probe['date']})")
    return "\n".join(lines)


def long_run_plan(config: StudyConfig) -> str:
    """The plan's text when the profile's extraction is planned to exceed :data:`LONG_RUN_SECONDS`.

    Planned for the profile's ``extraction.device`` (``cpu`` unless it says ``cuda``); an empty
    string for a short run, so ``./run_all.sh demo`` stays quiet. Caches already filled are not
    subtracted: the figure is the cost of a fresh run.
    """
    device = "cuda" if config.extraction.get("device") == "cuda" else "cpu"
    measurements = load_measurements()
    plan = plan_study(config, measurements)
    column = f"extract_{device}_s"
    if column not in plan or not plan[column].sum() > LONG_RUN_SECONDS:
        return ""
    return format_plan(config, plan, measurements) + "\n"


PLAN_VS_MEASURED_COLUMNS = [
    "model", "corpus", "device", "utterances", "planned_s", "measured_s", "measured_over_planned",
    "planned_disk_mb", "written_disk_mb", "planned_batch_memory_gb", "measured_peak_memory_gb",
]


def planned_vs_measured(config: StudyConfig, runs: pd.DataFrame) -> pd.DataFrame:
    """The plan beside notebook 02's runs: one row per model x corpus computed in this run.

    ``runs`` is :func:`serlib.study.extraction.extract_all`'s table (``device``, ``seconds``,
    ``load_s``, ``computed``, ``peak_rss_gb``, and ``peak_gpu_gb`` on a GPU). Planned time is
    the plan's for the run's device, scaled to the utterances computed (a resumed run computes
    only the rest); measured time leaves out the model's load, as the plan does. Disk: the
    store files as written (pooled, and frames where kept). Memory: the plan's model + one
    batch against the process's peak resident memory (CPU) or the GPU's peak allocation.
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
            continue  # acoustic sets and unknown architectures are not planned
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


__all__ = [
    "CorpusSize",
    "TYPICAL_CORPORA",
    "corpus_size",
    "extraction_seconds",
    "format_plan",
    "frames_write_seconds",
    "load_measurements",
    "peak_batch_bytes",
    "long_run_plan",
    "plan_study",
    "planned_vs_measured",
]


def planned_extraction_seconds(config: StudyConfig) -> float | None:
    """The plan's extraction time of a fresh run on the CPU (or ``extraction.device``), in
    seconds; None when no model's architecture is known."""
    device = "cuda" if config.extraction.get("device") == "cuda" else "cpu"
    plan = plan_study(config)
    column = f"extract_{device}_s"
    return float(plan[column].sum()) if column in plan and plan[column].notna().any() else None


def extraction_seconds_of(config: StudyConfig, model, corpus_id: str, device: str) -> float:
    """The planned seconds of one model run over one corpus on ``device`` (``cpu`` or ``cuda``),
    without frame writes: what rerunning the model costs the frame-level stage."""
    architecture = architecture_of(model.source)
    if architecture is None:
        return float("inf")
    measured = load_measurements()["extraction"]["cuda" if device.startswith("cuda") else "cpu"]
    size = corpus_size(config, corpus_id)
    return extraction_seconds(architecture, size.mean_seconds, size.utterances, measured,
                              config.extraction.get("whisper_window", "full"), device.split(":")[0])


def frames_disk_rate(device: str) -> float:
    """Bytes per second at which a spill file is written (the measured frame-store write rate of
    that kind of machine, ``frames_write_mb_per_s``; 200 MB/s where none was measured)."""
    measured = load_measurements()["extraction"]["cuda" if device.startswith("cuda") else "cpu"]
    return float(measured.get("frames_write_mb_per_s", 200.0)) * 1e6
