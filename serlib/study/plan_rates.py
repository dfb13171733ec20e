"""The measured rates a plan uses (``measured_throughput.json`` beside this module) and the costs
they give: extraction, model loads, acoustic sets, disk, memory, frame-level and pooled probes;
where each rate comes from, and which are assumed rather than measured."""

from __future__ import annotations

import json
import math
from importlib import resources
from pathlib import Path

from serlib.features.cost import ACOUSTIC_WIDTHS, WHISPER_WINDOW_SECONDS, Architecture
from serlib.features.frames import FRAME_MEMORY_SHARE
from serlib.features.registry import DEFAULT_BATCH_SECONDS, SAMPLE_RATE
from serlib.probing.kinds import PROBE_KINDS, get_probe_kind, group_ids_for
from serlib.probing.sizes import runs_per_pass
from serlib.study.config import StudyConfig
from serlib.study.plan_sizes import FoldSize



MEASUREMENTS_FILE = "measured_throughput.json"
#: The probes that read frames.
FRAME_PROBES = tuple(name for name, kind in PROBE_KINDS.items() if kind.input == "frames")
#: Disk rate where a device's was not measured (bytes per second).
DEFAULT_DISK_BYTES_PER_S = 200e6
#: Rows per evaluation chunk of a probe (``serlib.probing.train.TrainingConfig``'s default; a test checks).
EVAL_BATCH_SIZE = 256
#: Host-to-GPU rate where a device's was not measured (bytes per second; pageable PCIe copies).
DEFAULT_HOST_TO_DEVICE_BYTES_PER_S = 10e9


def load_measurements(path: str | Path | None = None) -> dict:
    """The measured rates (``measured_throughput.json``): per device and for the probe grids."""
    text = (Path(path).read_text() if path else
            resources.files("serlib.study").joinpath(MEASUREMENTS_FILE).read_text())
    return json.loads(text)


def device_kind(device: str) -> str:
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
    share = FRAME_MEMORY_SHARE["cuda" if device_kind(device) == "cuda" else "cpu"]
    memory = float(measured.get("memory_bytes", 0))
    size = f"{memory / 2**30:.0f} GiB" if memory % 2**30 == 0 else f"{memory / 1e9:.0f} GB"
    return share * memory, f"{share:.0%} of the {size} of {measured.get('name', device)}"


def host_frame_budget(config: StudyConfig, device: str, measured: dict) -> float:
    """What frames may take of the host's memory while the probes train on a GPU: the profile's
    ``extraction.host_frame_memory_gb``, else the CPU's share of the GPU machine's host memory
    (``host_memory_bytes`` in the JSON; 0 where not known); 0 on a CPU (the host is the device)."""
    if device_kind(device) != "cuda":
        return 0.0
    setting = config.extraction.get("host_frame_memory_gb")
    if setting is not None:
        return float(setting) * 1e9
    return FRAME_MEMORY_SHARE["cpu"] * float(measured.get("host_memory_bytes", 0))


def host_to_device_bytes_per_s(measured: dict) -> float:
    """The device entry's rate from host to GPU memory (``host_to_device_mb_per_s``), in bytes per
    second (10 GB/s where not given)."""
    return float(measured.get("host_to_device_mb_per_s", DEFAULT_HOST_TO_DEVICE_BYTES_PER_S / 1e6)) * 1e6


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


def compute_bytes(config: StudyConfig, device: str) -> int:
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


def pooled_ratio(measurements: dict, device: str, probe: str = "linear") -> float:
    """A pooled probe's seconds on ``device`` per CPU second (1 on the CPU, the reference); a
    probe fitted by scikit-learn runs on the host's CPU whatever the device (``sklearn_ratio_to_cpu``)."""
    if device == "cpu":
        return 1.0
    entry = measurements.get("probes", {}).get(device) or {}
    key = "sklearn_ratio_to_cpu" if get_probe_kind(probe).trainer == "sklearn" else "ratio_to_cpu"
    return float(entry.get(key, entry.get("ratio_to_cpu", float("nan"))))


def pooled_device_seconds(probe: str, cpu_seconds: float, hidden_states: int, width: int, folds: list[FoldSize],
                          seeds: int, epochs: int, batch_size: int, classes: int, measurements: dict,
                          device: str) -> float:
    """Seconds of one pooled probe over every fold of a protocol on ``device``, from its CPU
    seconds (:func:`pooled_probe_seconds`).

    Where the device has a measured ``step_seconds`` (``probes.<device>`` of the JSON), its steps
    are counted: the runs (fold x seed) train in passes as :mod:`serlib.probing.pooled_grid`
    makes them (the folds of one size together, as many runs as the device's pass budget holds),
    and a pass takes ``epochs x ceil(train / batch_size)`` steps. A step is launch-bound there: it
    costs the measured step times the probe's operators per step (``operators_per_step`` of the
    CPU entry) over those of the probe the step was measured on; to that the probe's arithmetic
    is added, its CPU seconds at the ratio of the two matmul peaks. Elsewhere the CPU seconds
    are scaled by the device's one ratio (``ratio_to_cpu``); a probe fitted by scikit-learn runs
    on the host's CPU."""
    if device == "cpu" or get_probe_kind(probe).trainer == "sklearn":
        return cpu_seconds * pooled_ratio(measurements, device, probe)
    entry = measurements.get("probes", {}).get(device) or {}
    if "step_seconds" not in entry:
        return cpu_seconds * pooled_ratio(measurements, device, probe)
    kind = get_probe_kind(probe)
    operators = measurements["probes"]["cpu"]["operators_per_step"]
    step = entry["step_seconds"] * operators[probe] / operators[entry["step_probe"]]
    groups = len(group_ids_for(kind, hidden_states)[0])
    per_pass = runs_per_pass(kind, hidden_states, width, groups, classes, EVAL_BATCH_SIZE, device)
    sizes: dict[tuple[float, float], int] = {}
    for fold in folds:
        key = (fold.train_utterances, fold.evaluated_utterances)
        sizes[key] = sizes.get(key, 0) + seeds
    steps = sum(-(-runs // per_pass) * epochs * math.ceil(train / batch_size) for (train, _), runs in sizes.items())
    arithmetic = cpu_seconds * entry["matmul_peak_ratio_to_cpu"]
    return steps * step + arithmetic


def frame_probe_rate(measurements: dict, device: str, probe: str) -> float:
    """Multiply-adds per second of a frame-level probe on ``device`` (NaN where none is given)."""
    entry = (measurements.get("frame_probes", {}).get(device) or {}).get(probe) or {}
    return float(entry.get("effective_gmacs_per_s", float("nan"))) * 1e9


# --- what the profile runs ---------------------------------------------------------------------



def measurement_source(entry: dict, key: str = "source") -> str:
    """The short provenance of a JSON entry: ``ASSUMED`` where it was assumed."""
    if isinstance(entry.get("assumed"), str):
        return "ASSUMED, see below"
    return entry.get(key) or f"{entry.get('machine', '')}, {entry.get('date', '')}"


def device_sources(measurements: dict, device: str, keep_frames: bool) -> dict[str, str]:
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
            else measured.get("frames_write_source", measurement_source(measured)))
    sources = {
        "extraction": f"{measured['effective_gmacs_per_s']:.0f} GMAC/s, {measured['dtype']} ({measurement_source(measured)})",
        "model loads": (f"{load.get('base_s', 0):.2f} s + {load.get('per_million_parameters_s', 0):.4f} s per million "
                        f"parameters, +{load.get('first_load_extra_s', 0):.2f} s for a process's first "
                        f"({measurement_source(load) if load else 'not measured'})"),
        "overheads": (f"{measured.get('run_overhead_s', 0):.2f} s per run + "
                      f"{measured.get('utterance_overhead_s', 0) * 1000:.1f} ms per utterance ({overheads})"),
        "acoustic baselines": (" / ".join(f"{name} {acoustic[name]:.4f}" for name in ACOUSTIC_WIDTHS if name in acoustic)
                               + f" s per second of audio ({measurement_source(acoustic)})"),
        "disk": f"{disk_bytes_per_s(measured) / 1e6:.0f} MB/s for frame stores and spill files ({disk})",
        "frame-level probes": (" / ".join(f"{probe} {frame[probe]['effective_gmacs_per_s']:.0f}" for probe in FRAME_PROBES
                                          if probe in frame) + f" GMAC/s ({measurement_source(frame)})"),
    }
    if device == "cpu":
        sources["pooled probes"] = (f"each kind's seconds on {pooled['utterances']} x {pooled['hidden_states']} x "
                                    f"{pooled['width']}, {pooled['folds']} folds, {pooled['seeds']} seed, "
                                    f"{pooled['epochs']} epochs, scaled linearly ({measurement_source(pooled)})")
    else:
        sklearn = pooled.get("sklearn_ratio_to_cpu")
        how = (f"{pooled['step_seconds'] * 1e3:.2f} ms per step of the {pooled['step_probe']} grid, scaled by each "
               f"kind's operators per step, over the steps of its passes, + the CPU's seconds x "
               f"{pooled['matmul_peak_ratio_to_cpu']:.4f} for the arithmetic" if "step_seconds" in pooled
               else f"the CPU's seconds x {pooled_ratio(measurements, device):.4f}")
        sources["pooled probes"] = (how + (f"; scikit-learn's x {sklearn:.3f}" if sklearn else "")
                                    + f" ({measurement_source(pooled)})")
    return sources


def assumptions(measurements: dict) -> list[str]:
    """Every rate the plan uses that was assumed, not measured (what the JSON says so of)."""
    found = []
    for section in ("extraction", "frame_probes", "probes"):
        for device, entry in (measurements.get(section) or {}).items():
            for key, value in entry.items():
                text = value.get("assumed") if isinstance(value, dict) else (value if "assumed" in key else None)
                if isinstance(text, str):
                    found.append(f"{section}.{device}.{key}: {text}")
    return found


__all__ = ["DEFAULT_DISK_BYTES_PER_S", "DEFAULT_HOST_TO_DEVICE_BYTES_PER_S", "FRAME_PROBES", "MEASUREMENTS_FILE", "acoustic_seconds", "assumptions",
           "compute_bytes", "device_kind", "device_sources", "disk_bytes_per_s", "extraction_seconds",
           "frame_budget", "frame_probe_rate", "frames_write_seconds", "host_frame_budget", "host_to_device_bytes_per_s", "load_measurements", "measurement_source",
           "model_load_seconds", "peak_batch_bytes", "pooled_probe_seconds", "pooled_ratio"]
