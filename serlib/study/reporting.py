"""The report's tables with intervals, per protocol, and FINDINGS.md (notebooks 03-09).

Each function reads the probe results and per-utterance predictions that :func:`probe_all`
wrote for the profile's current protocol, computes one table of :mod:`serlib.report` and writes
it to ``tables/<name>.<protocol>.csv``. :func:`write_findings` turns the tables of every
protocol into ``results/<profile>/FINDINGS.md``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd

from serlib.common.files import write_csv_atomically
from serlib.report import analysis, findings, survival_findings, uncertainty
from serlib.study.config import StudyConfig
from serlib.study.probe_cache import probes_run_under
from serlib.study.tables import predictions_path, read_predictions, read_probe_table, split_name, table_path

COMPARISON_TABLE = "aggregation_comparison"
PAPER_DEFINITION_TABLE = "paper_definition_comparison"
LAYER_CHOICES_TABLE = "layer_choices"


def protocol_configs(config: StudyConfig, probe: str | None = None) -> list[StudyConfig]:
    """The study under each of the profile's protocols (main first); with ``probe``, only the
    protocols that probe runs under (``per_probe.<probe>.protocols``)."""
    protocols = probes_run_under(config, probe) if probe else config.split_protocols
    return [dataclasses.replace(config, split_protocol=protocol) for protocol in protocols]


def relative_to_results(config: StudyConfig, path: Path) -> str:
    """A results path as the report names it: relative to ``results/<profile>/``."""
    return path.relative_to(config.results_dir).as_posix()


def probes_with_predictions(config: StudyConfig) -> set[str]:
    """Probes whose predictions exist for the current protocol."""
    folder = predictions_path(config, "x").parent
    suffix = f".{config.split_protocol}.csv.gz"
    return {path.name[: -len(suffix)] for path in folder.glob(f"*{suffix}")}


def layer_interval_table(config: StudyConfig, probe: str) -> pd.DataFrame:
    """Test accuracy of every layer of ``probe`` with its 95% interval (speakers and seeds
    resampled), UAR and macro-F1; written to ``tables/layer_intervals_<probe>.<protocol>.csv``."""
    intervals = uncertainty.layer_intervals(read_predictions(config, probe))
    write_csv_atomically(intervals, table_path(config, f"layer_intervals_{probe}"))
    return intervals


def layer_vs_last_table(config: StudyConfig, probe: str = "linear") -> pd.DataFrame:
    """The dev-chosen best layer of ``probe`` against the last layer, paired, per model x corpus."""
    table = analysis.layer_against_last(read_probe_table(config, probe), read_predictions(config, probe), probe)
    write_csv_atomically(table, table_path(config, f"layer_vs_last_{probe}"))
    return table


def aggregation_comparison_table(config: StudyConfig) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The headline under the current protocol: every single-layer family (the paper's
    frame-level probes where they ran, their pooled variants otherwise) and their dev-chosen
    combination against every aggregation, paired, Holm over the table; the per-fold layer
    choices; and the paper's own definition (layer chosen on test). All three are written."""
    singles, aggregations = analysis.available_headline_probes(probes_with_predictions(config))
    results = pd.concat([read_probe_table(config, probe) for probe in singles + aggregations], ignore_index=True)
    predictions = pd.concat([read_predictions(config, probe) for probe in singles + aggregations],
                            ignore_index=True)
    comparison, choices = analysis.aggregation_comparisons(results, predictions, singles, aggregations)
    paper = pd.concat([analysis.paper_definition_comparison(results, singles, aggregation)
                       for aggregation in aggregations], ignore_index=True)
    write_csv_atomically(comparison, table_path(config, COMPARISON_TABLE))
    write_csv_atomically(choices, table_path(config, LAYER_CHOICES_TABLE))
    write_csv_atomically(paper, table_path(config, PAPER_DEFINITION_TABLE))
    return comparison, choices, paper


POOLING_TABLE = "pooling_comparison"


def pooling_comparison_table(config: StudyConfig) -> pd.DataFrame:
    """The paper's frame-level probes against their pooled variants under the current protocol
    (:func:`serlib.report.analysis.pooling_comparisons`): does pooling first change the answer?
    Written to ``tables/pooling_comparison.<protocol>.csv`` where a frame-level probe ran."""
    available = probes_with_predictions(config)
    probes = [probe for pair in analysis.POOLED_VARIANTS if set(pair) <= available for probe in pair]
    if not probes:
        return pd.DataFrame()
    results = pd.concat([read_probe_table(config, probe) for probe in probes], ignore_index=True)
    predictions = pd.concat([read_predictions(config, probe) for probe in probes], ignore_index=True)
    table = analysis.pooling_comparisons(results, predictions)
    if not table.empty:
        write_csv_atomically(table, table_path(config, POOLING_TABLE))
    return table


def control_pairs(config: StudyConfig) -> list[tuple[str, str]]:
    """(model, control) pairs of the profile: each pretrained model with its random-init copy
    (``random:<its source>``) and with every acoustic baseline."""
    from serlib.features.registry import ACOUSTIC_PREFIX, RANDOM_PREFIX

    acoustic = [model.model_id for model in config.models if model.source.startswith(ACOUSTIC_PREFIX)]
    pairs = []
    for model in config.models:
        if model.source.startswith((RANDOM_PREFIX, ACOUSTIC_PREFIX)):
            continue
        pairs += [(model.model_id, other.model_id) for other in config.models
                  if other.source == f"{RANDOM_PREFIX}{model.source}"]
        pairs += [(model.model_id, baseline) for baseline in acoustic]
    return pairs


def controls_table(config: StudyConfig, probe: str = "linear") -> pd.DataFrame:
    """Each pretrained model's dev-chosen best layer against its controls, paired."""
    table = analysis.control_comparisons(read_probe_table(config, probe), read_predictions(config, probe),
                                         probe, control_pairs(config))
    if not table.empty:  # a profile without controls (demo: every model is random-init) writes none
        write_csv_atomically(table, table_path(config, f"controls_{probe}"))
    return table


def _read_if_written(config: StudyConfig, stem: str) -> tuple[pd.DataFrame, str]:
    path = table_path(config, stem)
    table = pd.read_csv(path, dtype={"layer": str, "best_layer": str}) if path.is_file() else pd.DataFrame()
    return table, relative_to_results(config, path)


def _every_protocol(config: StudyConfig, stem: str) -> tuple[pd.DataFrame, list[str]]:
    """The table ``stem`` of every protocol of the profile (main first) in one, and the tables
    it was read from (relative to the results folder)."""
    tables, sources = [], []
    for protocol_config in protocol_configs(config):
        table, where = _read_if_written(protocol_config, stem)
        if not table.empty:
            tables.append(table)
            sources.append(where)
    return (pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()), sources


def control_models(config: StudyConfig) -> dict[str, str]:
    """Each random-init copy of the profile -> the model it copies (from :func:`control_pairs`)."""
    acoustic = {model.model_id for model in config.models if model.source.startswith("acoustic:")}
    return {control: model for model, control in control_pairs(config) if control not in acoustic}


def pretrained_models(config: StudyConfig) -> list[str]:
    """The profile's models that are neither random-init nor acoustic features."""
    return [model.model_id for model in config.models
            if not model.source.startswith(("random:", "acoustic:"))]


def majority_by_corpus(config: StudyConfig) -> dict[str, float]:
    """Majority-class test accuracy per corpus under the current protocol, from the split files
    the study copied to ``results/<profile>/splits/`` (corpora without one are left out)."""
    levels = {}
    for corpus in config.corpora:
        path = config.results_dir / "splits" / f"{corpus.corpus_id}.split-{split_name(config)}.csv"
        if path.is_file():
            table = analysis.reference_levels(path).set_index("split")
            if "test" in table.index:
                levels[corpus.corpus_id] = float(table.loc["test", "majority_accuracy"])
    return levels


# --------------------------------------------------------------------------- FINDINGS.md


def _which_layer(config: StudyConfig) -> findings.Section | None:
    intervals, sources = _every_protocol(config, "layer_intervals_linear")
    return findings.which_layer_section(intervals, sources, config.split_protocols)


def _aggregation(config: StudyConfig) -> findings.Section | None:
    comparisons, sources = _every_protocol(config, COMPARISON_TABLE)
    return findings.aggregation_section(comparisons, sources, config.split_protocols)


def _paper_definition(config: StudyConfig) -> findings.Section | None:
    definition, sources = _every_protocol(config, PAPER_DEFINITION_TABLE)
    comparisons, _ = _every_protocol(config, COMPARISON_TABLE)
    return findings.paper_definition_section(definition, comparisons, sources, config.split_protocols)


def _last_layer(config: StudyConfig) -> findings.Section | None:
    against_last, sources = _every_protocol(config, "layer_vs_last_linear")
    return findings.last_layer_section(against_last, sources, config.split_protocols)


def _controls(config: StudyConfig) -> findings.Section | None:
    controls, sources = _every_protocol(config, "controls_linear")
    return findings.controls_section(controls, sources, config.split_protocols)


def _paper_style(config: StudyConfig) -> findings.Section | None:
    path = config.tables_dir / f"{PAPER_STYLE_TABLE}.csv"
    summary = pd.read_csv(path) if path.is_file() else pd.DataFrame()
    return findings.paper_style_section(summary, [relative_to_results(config, path)])


#: The questions of FINDINGS.md, in order: each a function of the study's config returning a
#: :class:`serlib.report.findings.Section` (heading, intro, table; an empty table reads "nothing
#: to report under this profile") or None (the question does not apply: no heading at all). A
#: new question is one more function here.
def _paper_pairing(config: StudyConfig) -> findings.Section | None:
    comparisons, sources = _every_protocol(config, COMPARISON_TABLE)
    return survival_findings.paper_pairing_section(comparisons, sources)


def _pooling(config: StudyConfig) -> findings.Section | None:
    pooling, sources = _every_protocol(config, POOLING_TABLE)
    return survival_findings.pooling_section(pooling, sources)


def _capacity(config: StudyConfig) -> findings.Section | None:
    from serlib.study.capacity import REFERENCE_VARIANT

    capacity, where = _read_if_written(config, "probe_capacity")
    return survival_findings.capacity_section(capacity, [where], REFERENCE_VARIANT)


def _robustness(config: StudyConfig) -> findings.Section | None:
    accuracy, where = _read_if_written(config, "robustness")
    comparison, where_comparison = _read_if_written(config, "robustness_comparison")
    return survival_findings.robustness_section(accuracy, comparison, [where, where_comparison])


def _attributes(config: StudyConfig) -> findings.Section | None:
    table, where = _read_if_written(config, "layer_attributes")
    return survival_findings.attributes_section(table, [where])


def _calibration(config: StudyConfig) -> findings.Section | None:
    table, where = _read_if_written(config, "calibration")
    return survival_findings.calibration_section(table, [where])


def _fairness(config: StudyConfig) -> findings.Section | None:
    table, where = _read_if_written(config, "fairness")
    return survival_findings.fairness_section(table, [where])


FINDINGS_SECTIONS = (_which_layer, _aggregation, _paper_pairing, _pooling, _paper_definition, _last_layer,
                     _controls, _paper_style, _capacity, _robustness, _attributes, _calibration, _fairness)


def findings_sections(config: StudyConfig) -> list[findings.Section]:
    """The sections of FINDINGS.md that the profile's tables fill."""
    return [section for build in FINDINGS_SECTIONS if (section := build(config)) is not None]


# --------------------------------------------------------------------------- headline figures

PAPER_STYLE_TABLE = "paper_style_summary"
LAYER_CURVE_FIGURE = "layer_curves_with_controls"
FOREST_FIGURE = "aggregation_forest"


def headline_figures(config: StudyConfig, show: bool = False) -> list[tuple[str, str]]:
    """Save the two figures the report leads with under ``figures/`` and return (alt text, path
    relative to the results folder) of each that could be drawn:

    - ``layer_curves_with_controls.<main protocol>``: the paper's probe by hidden state with 95%
      intervals, per model and corpus, the random-init copies dashed, the acoustic baselines as
      reference lines with their band, the majority class dashed;
    - ``aggregation_forest``: every single-layer vs aggregation pairing of every protocol,
      relative error reduction with its 95% interval, marked by its Holm verdict."""
    from serlib.report import plots

    figures = []
    intervals, _ = _read_if_written(config, "layer_intervals_linear")
    if not intervals.empty:
        name = f"{LAYER_CURVE_FIGURE}.{config.split_protocol}"
        figure = plots.layer_curves_with_controls(
            intervals, copies=control_models(config), chance=majority_by_corpus(config),
            title=f"paper's probe by hidden state, {config.split_protocol} ({config.figure_label})")
        plots.save_figure(figure, config.figures_dir, name, show=show)
        figures.append((f"test accuracy by hidden state with 95% intervals, {config.split_protocol}",
                        relative_to_results(config, config.figures_dir / f"{name}.png")))
    comparisons, _ = _every_protocol(config, COMPARISON_TABLE)
    if not comparisons.empty:
        comparisons = forest_order(comparisons, config)
        verdicts = [findings.verdict(row, findings.SINGLE_BETTER, findings.AGGREGATION_BETTER)
                    for row in comparisons.itertuples()]
        title = f"best single layer vs aggregation, every pairing ({config.figure_label})"
        figure = plots.aggregation_forest(comparisons, verdicts, title=title)
        plots.save_figure(figure, config.figures_dir, FOREST_FIGURE, show=show,
                          dpi=150 if len(comparisons) <= plots.FOREST_LEGIBLE_ROWS else 100)
        figures.append(("relative error reduction of the best single layer against each aggregation, every pairing",
                        relative_to_results(config, config.figures_dir / f"{FOREST_FIGURE}.png")))
    return figures


def forest_order(comparisons: pd.DataFrame, config: StudyConfig) -> pd.DataFrame:
    """Pairings in reading order: protocol (main first), corpus, pretrained models before their
    controls (profile order), single system, aggregation (table order)."""
    rank = {
        "protocol": {name: index for index, name in enumerate(config.split_protocols)},
        "model": {model.model_id: (model.model_id not in pretrained_models(config), index)
                  for index, model in enumerate(config.models)},
    }
    def first_seen(column: str) -> pd.Series:
        return comparisons[column].map({name: index for index, name in enumerate(dict.fromkeys(comparisons[column]))})

    keys = comparisons.assign(
        _protocol=comparisons["protocol"].map(lambda name: rank["protocol"].get(name, len(rank["protocol"]))),
        _model=comparisons["model"].map(lambda name: rank["model"].get(name, (True, len(rank["model"])))),
        _single=first_seen("single"), _aggregation=first_seen("aggregation"))
    keys = keys.sort_values(["_protocol", "corpus", "_model", "_single", "_aggregation"], kind="stable")
    return keys.drop(columns=["_protocol", "_model", "_single", "_aggregation"]).reset_index(drop=True)


def paper_style_table(config: StudyConfig) -> pd.DataFrame:
    """Our results of the main protocol in the paper's table layout, the paper's numbers beside
    (:func:`serlib.report.paper_reference.paper_style_summary`); written to
    ``tables/paper_style_summary.csv``. Intervals come from ``layer_intervals_<probe>`` tables;
    those of the aggregations (one system per corpus x model) are computed from the
    predictions and written there when missing."""
    from serlib.report import paper_reference

    probes = {probe for probes in paper_reference.PAPER_STYLE_SYSTEMS.values() for probe in probes}
    available = probes_with_predictions(config)
    intervals = {}
    for probe in sorted(probes):
        if probe in available and probe.startswith("aggregate"):  # one system: cheap, never stale
            table = layer_interval_table(config, probe)
        else:
            table, _ = _read_if_written(config, f"layer_intervals_{probe}")
        if not table.empty:
            intervals[probe] = table
    summary = paper_reference.paper_style_summary(intervals, paper_reference.load_paper_results())
    if not summary.empty:
        write_csv_atomically(summary, config.tables_dir / f"{PAPER_STYLE_TABLE}.csv")
    return summary


def write_findings(config: StudyConfig, show_figures: bool = False) -> tuple[Path, str]:
    """The findings stage: the paper-style table, the two headline figures, and
    ``results/<profile>/FINDINGS.md`` (summary, then one table per question), all from the
    tables; return the path of FINDINGS.md and its text."""
    paper_style_table(config)
    figures = headline_figures(config, show=show_figures)
    comparisons, _ = _every_protocol(config, COMPARISON_TABLE)
    if not comparisons.empty:
        comparisons = forest_order(comparisons, config)
    summary = findings.summary_block(figures, comparisons, pretrained_models(config))
    text = findings.render(config.profile, config.description, findings_sections(config), summary)
    path = config.results_dir / "FINDINGS.md"
    findings.write_findings(path, text)
    return path, text
