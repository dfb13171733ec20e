"""A plan as text (``serlib plan PROFILE``) and as JSON (``--json``)."""

from __future__ import annotations

import json
import math

import pandas as pd

from serlib.study.config import StudyConfig
from serlib.study.plan import LONG_RUN_SECONDS, plan_study, plan_summary, run_device
from serlib.study.plan_rates import load_measurements



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


def human_bytes(value: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return ""


def human_seconds(value: float) -> str:
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
        lines.append(f"  {model:28s} {human_bytes(rows['pooled_bytes'].sum()):>9s} "
                     f"{human_bytes(rows['frames_bytes'].sum()):>12s} {human_bytes(rows['bank_bytes'].max()):>11s}  "
                     f"{probes or '-'}")
    lines.append("  (frame bank: the largest corpus's frames, float16, held while the frame-level probes train)")
    parts = (("load", "load_s"), ("extraction", "extraction_s"), ("frames held", "frame_holding_s"),
             ("frame probes", "frame_probe_s"), ("pooled probes", "pooled_probe_s"), ("total", "total_s"))
    for device, entry in summary["devices"].items():
        name = measurements["extraction"][device].get("name", device)
        lines.append(f"  {device}, {name}: seconds per model, summed over the corpora")
        lines.append(f"  {'model':28s}" + "".join(f" {label:>13s}" for label, _ in parts) + f" {'peak memory':>12s}")
        for model in entry["models"]:
            lines.append(f"  {model['model']:28s}" + "".join(f" {human_seconds(model[key]):>13s}" for _, key in parts)
                         + f" {human_bytes(model['peak_memory_bytes']):>12s}")
        lines.append(f"  {'total ' + device:28s}" + "".join(f" {human_seconds(entry[key]):>13s}" for _, key in parts)
                     + f" {human_bytes(entry['peak_memory_bytes']):>12s}")
    for device, entry in summary["devices"].items():
        lines.append(f"  total {device}: {human_seconds(entry['total_s'])} = extraction "
                     f"{human_seconds(entry['extraction_s'])} (loads {human_seconds(entry['load_s'])}) + frames held "
                     f"{human_seconds(entry['frame_holding_s'])} + frame-level probes "
                     f"{human_seconds(entry['frame_probe_s'])} + pooled probes {human_seconds(entry['pooled_probe_s'])}")
    spill = max((entry["largest_spill_bytes"] for entry in summary["devices"].values()), default=0.0)
    lines.append(f"  disk: {human_bytes(summary['peak_disk_bytes'])} at the peak (pooled stores "
                 f"{human_bytes(summary['pooled_disk_bytes'])} + kept frame stores "
                 f"{human_bytes(summary['kept_frames_bytes'])} + the largest spill file {human_bytes(spill)}, one at a "
                 f"time), {human_bytes(summary['kept_disk_bytes'])} kept at the end")
    for device, entry in summary["devices"].items():
        held = entry["frames_held"]
        too_large = (f", {held['too-large']} too large for the budget (raise extraction.frame_memory_gb)"
                     if held["too-large"] else "")
        lines.append(f"  frame memory, {device} (budget {human_bytes(entry['frame_memory_budget_bytes'])}, "
                     f"{entry['frame_memory_budget_from']}): of the model x corpus pairs with frame-level probes, "
                     f"{held['memory']} held whole, {held['chunks']} in groups of hidden states, {held['host']} "
                     f"in host memory, {held['spill']} spilled to disk{too_large}")
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


def long_run_plan(config: StudyConfig) -> str:
    """The plan's text when the profile's fresh run is planned to exceed :data:`LONG_RUN_SECONDS`.

    Planned for the profile's ``extraction.device`` (``cpu`` unless it says ``cuda``); an empty
    string for a short run, so ``./run_all.sh demo`` stays quiet. Caches already filled are not
    subtracted: the figure is the cost of a fresh run.
    """
    measurements = load_measurements()
    plan = plan_study(config, measurements)
    summary = plan_summary(config, plan, measurements)
    entry = summary["devices"].get(run_device(config))
    if entry is None or not entry["total_s"] > LONG_RUN_SECONDS:
        return ""
    return format_plan(config, plan, measurements, summary) + "\n"


__all__ = ["format_plan", "human_bytes", "human_seconds", "long_run_plan", "plan_json"]
