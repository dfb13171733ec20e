"""FINDINGS.md's sections beyond the paper: does the headline survive, and what else layers know.

Each builder takes the tables notebooks 05, 09 and 10 wrote and returns a
:class:`serlib.report.findings.Section`: a heading, one generated sentence that the table checks
(no number typed by hand), the table with every number's 95% interval and n, and its sources.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from serlib.report.findings import (AGGREGATION_BETTER, SINGLE_BETTER, Section, _comparison_rows, _count,
                                    _nothing, accuracy_text, n_text, verdict, verdict_counts)

PAPER_PAIRING = "The paper's exact pairing: best layer (linear | dense, chosen on dev) vs frame-level DENSE"
POOLING = "Frames or their mean: does pooling first change the answer?"
CAPACITY = "Does the headline depend on the probe's capacity, or on per-speaker scaling?"
ROBUSTNESS = "Does it hold on degraded test audio?"
ATTRIBUTES = "What else each hidden state knows (speaker, sex, text)"
CALIBRATION = "Calibration of each hidden state's probe"
FAIRNESS = "Fairness: sex gap and worst speaker"


def _counted(counts: dict[str, int]) -> str:
    return ", ".join(f"{label} in {count}" for label, count in counts.items())


def paper_pairing_section(comparisons: pd.DataFrame, sources: Sequence[str]) -> Section:
    """The rows of the headline table that are the paper's own pairing: the better of its two
    single-layer probes (frame-level dense where it ran) against its frame-level aggregation."""
    if comparisons.empty:
        return _nothing(PAPER_PAIRING)
    rows = comparisons[(comparisons["aggregation"] == "aggregate")
                       & (comparisons["single"] == "best-layer(linear|dense)")]
    if rows.empty:
        return _nothing(PAPER_PAIRING)
    counts = verdict_counts(rows, SINGLE_BETTER, AGGREGATION_BETTER)
    intro = (f"The paper's systems as the paper pairs them, the layer and the probe family chosen on dev "
             f"inside every fold, the aggregation learning unnormalised weights over every hidden state's "
             f"frames: {_counted(counts)} of {_count(len(rows), 'pairing')}. The paper's headline is a "
             f"relative error reduction of about 32% averaged over its seven corpora.")
    table = _comparison_rows(rows, "best layer: accuracy", "DENSE: accuracy", SINGLE_BETTER, AGGREGATION_BETTER,
                             extra={"layers chosen (folds)": "layers_chosen"})
    return Section(PAPER_PAIRING, intro, table, tuple(sources))


def pooling_section(pooling: pd.DataFrame, sources: Sequence[str]) -> Section:
    """Frame-level probes (A) against their pooled variants (B)."""
    if pooling.empty:
        return _nothing(POOLING)
    counts = verdict_counts(pooling, "frames better", "pooled better")
    intro = (f"The same probe on frames (A) and on the mean of the frames (B), on the same utterances "
             f"and seeds: {_counted(counts)} of {_count(len(pooling), 'comparison')}.")
    table = _comparison_rows(pooling, "frames: accuracy", "pooled: accuracy", "frames better", "pooled better")
    return Section(POOLING, intro, table, tuple(sources))


def capacity_section(capacity: pd.DataFrame, sources: Sequence[str], reference: str) -> Section:
    """The headline at every head capacity and with per-speaker standardisation; ``reference``
    is the variant the others are set against (the paper's MLP)."""
    if capacity.empty:
        return _nothing(CAPACITY)
    others = capacity[capacity["variant"] != reference]
    changed_layer = int(others["best_layer_differs_from_paper_mlp"].astype(bool).sum())
    changed_verdict = int(others["verdict_differs_from_paper_mlp"].astype(bool).sum())
    counts = verdict_counts(capacity, SINGLE_BETTER, AGGREGATION_BETTER)
    intro = (f"The best single layer against SUPERB's softmax-weighted aggregation with the same head, at "
             f"each capacity: {_counted(counts)} of {_count(len(capacity), 'comparison')}. Of the "
             f"{_count(len(others), 'row')} of the other variants, the layer dev chose most often differs from "
             f"the paper MLP's in {changed_layer}, the verdict in {changed_verdict}.")
    table = _comparison_rows(capacity, "best layer: accuracy", "aggregation: accuracy", SINGLE_BETTER,
                             AGGREGATION_BETTER, extra={"variant": "variant", "best layer": "best_layer"})
    table.insert(5, "best layer differs from the paper MLP's", capacity["best_layer_differs_from_paper_mlp"].map(
        {True: "yes", False: "no"}).to_numpy())
    return Section(CAPACITY, intro, table, tuple(sources))


def robustness_section(accuracy: pd.DataFrame, comparison: pd.DataFrame, sources: Sequence[str]) -> Section:
    """Per condition: the best clean layer's and the aggregations' accuracy, whether the best
    clean layer is still the best on that test part, and the verdict."""
    if accuracy.empty:
        return _nothing(ROBUSTNESS)
    rows, still_best, conditions = [], 0, 0
    for (condition, corpus, model), part in accuracy.groupby(["condition", "corpus", "model"], sort=False):
        single = part[part["probe"] == "linear"]
        chosen = single[single["chosen_on_clean_dev"].astype(bool)]
        best = single[single["best_on_this_test"].astype(bool)]
        if chosen.empty or best.empty:
            continue
        chosen, best = chosen.iloc[0], best.iloc[0]
        conditions += condition != "clean"
        still_best += condition != "clean" and str(chosen.layer) == str(best.layer)
        verdicts = comparison[(comparison["condition"] == condition) & (comparison["corpus"] == corpus)
                              & (comparison["model"] == model)] if not comparison.empty else comparison
        rows.append({
            "condition": condition, "corpus": corpus, "model": model,
            "layer chosen on clean dev [95% CI]": f"{chosen.layer}: " + accuracy_text(chosen.accuracy, chosen.ci_low,
                                                                                       chosen.ci_high),
            "best layer on this test [95% CI]": f"{best.layer}: " + accuracy_text(best.accuracy, best.ci_low,
                                                                                 best.ci_high),
            "aggregations [95% CI]": "; ".join(
                f"{row.probe} " + accuracy_text(row.accuracy, row.ci_low, row.ci_high)
                for row in part[part["probe"] != "linear"].itertuples()),
            "best layer vs each aggregation": "; ".join(
                f"{row.aggregation}: {verdict(row, SINGLE_BETTER, AGGREGATION_BETTER)} (RER "
                f"{100 * row.relative_error_reduction:+.1f}%)" for row in verdicts.itertuples()),
            "n": n_text(chosen)})
    if not rows:
        return _nothing(ROBUSTNESS)
    counts = verdict_counts(comparison[comparison["condition"] != "clean"], SINGLE_BETTER, AGGREGATION_BETTER) \
        if not comparison.empty else {}
    intro = (f"Probes trained on clean audio, tested on degraded copies of the test utterances. The layer "
             f"chosen on clean dev is still the best on the degraded test part in {still_best} of "
             f"{conditions} condition x model x corpus runs; the best clean layer against each aggregation "
             f"under degradation: {_counted(counts)} (Holm over the table).")
    return Section(ROBUSTNESS, intro, pd.DataFrame(rows), tuple(sources))


def attributes_section(table: pd.DataFrame, sources: Sequence[str]) -> Section:
    """Per attribute and model x corpus: the peak hidden state and its accuracy against chance."""
    if table.empty:
        return _nothing(ATTRIBUTES)
    rows, peaks = [], {}
    for (attribute, corpus, model), run in table.groupby(["attribute", "corpus", "model"], sort=False):
        run = run.assign(layer_index=pd.to_numeric(run["layer"])).sort_values("layer_index")
        peak = run.loc[run["accuracy"].idxmax()]
        peaks[(corpus, model, attribute)] = int(peak.layer_index)
        rows.append({"attribute": attribute, "protocol": peak.protocol, "corpus": corpus, "model": model,
                     "peak (hidden state of last)": f"{int(peak.layer_index)} of {int(run['layer_index'].max())}",
                     "accuracy at the peak [95% CI]": accuracy_text(peak.accuracy, peak.ci_low, peak.ci_high),
                     "chance": f"{peak.chance:.3f}",
                     "hidden state 0": accuracy_text(run.iloc[0].accuracy, run.iloc[0].ci_low, run.iloc[0].ci_high),
                     "last": accuracy_text(run.iloc[-1].accuracy, run.iloc[-1].ci_low, run.iloc[-1].ci_high),
                     "n": n_text(peak)})
    same = sum(peaks.get((corpus, model, "speaker")) == layer for (corpus, model, attribute), layer in peaks.items()
               if attribute == "emotion" and (corpus, model, "speaker") in peaks)
    runs = sum(1 for key in peaks if key[2] == "emotion" and (key[0], key[1], "speaker") in peaks)
    intro = (f"The paper's probe per hidden state on other labels of the manifest (sex and text under the main "
             f"protocol, speaker identity under a split stratified by speaker). Emotion and speaker identity "
             f"peak at the same hidden state in {same} of {runs} model x corpus runs.")
    return Section(ATTRIBUTES, intro, pd.DataFrame(rows), tuple(sources))


def calibration_section(calibration: pd.DataFrame, sources: Sequence[str]) -> Section:
    """ECE of every system, with its interval."""
    if calibration.empty:
        return _nothing(CALIBRATION)
    rows = [{"corpus": row.corpus, "model": row.model, "system": row.probe + (
                "" if row.layer in ("all", "chosen") else f" layer {row.layer}"),
             "ECE (15 bins) [95% CI]": accuracy_text(row.ece, row.ece_ci_low, row.ece_ci_high),
             "accuracy": f"{row.accuracy:.3f}", "mean confidence": f"{row.mean_confidence:.3f}",
             "n": n_text(row)} for row in calibration.itertuples()]
    best = calibration.loc[calibration["ece"].idxmin()]
    intro = (f"Expected calibration error of the top-label probabilities (lower is better calibrated) for "
             f"{_count(len(calibration), 'system')}; the best calibrated is {best.probe}"
             f"{'' if best.layer in ('all', 'chosen') else ' layer ' + str(best.layer)} of {best.model} on "
             f"{best.corpus}. A mean confidence above the accuracy is over-confidence.")
    return Section(CALIBRATION, intro, pd.DataFrame(rows), tuple(sources))


def fairness_section(fairness: pd.DataFrame, sources: Sequence[str]) -> Section:
    """The female - male gap and the worst speaker of every system."""
    if fairness.empty:
        return _nothing(FAIRNESS)
    rows, clear = [], 0
    for row in fairness.itertuples():
        excludes_zero = pd.notna(row.gap_ci_low) and (row.gap_ci_low > 0 or row.gap_ci_high < 0)
        clear += bool(excludes_zero)
        rows.append({"corpus": row.corpus, "model": row.model,
                     "system": row.probe + ("" if row.layer in ("all", "chosen") else f" layer {row.layer}"),
                     "female": f"{row.accuracy_female:.3f}", "male": f"{row.accuracy_male:.3f}",
                     "female - male [95% CI]": accuracy_text(row.gap_female_minus_male, row.gap_ci_low, row.gap_ci_high),
                     "worst speaker [95% CI]": f"{row.worst_speaker}: " + accuracy_text(
                         row.worst_speaker_accuracy, row.worst_ci_low, row.worst_ci_high),
                     "n": n_text(row)})
    intro = (f"Accuracy of female and male speakers and of the worst speaker, per system. The 95% interval "
             f"of the gap between the sexes excludes zero for {clear} of {_count(len(fairness), 'system')} "
             f"(an interval per system, not corrected for their number).")
    return Section(FAIRNESS, intro, pd.DataFrame(rows), tuple(sources))


__all__ = ["attributes_section", "calibration_section", "capacity_section", "fairness_section",
           "paper_pairing_section", "pooling_section", "robustness_section"]
