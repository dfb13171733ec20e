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
from serlib.report import analysis, findings, uncertainty
from serlib.study.config import StudyConfig
from serlib.study.probe_runs import probes_run_under
from serlib.study.tables import predictions_path, read_predictions, read_probe_table, table_path

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


def findings_sections(config: StudyConfig) -> list[tuple[str, list[str]]]:
    """The claim lines of every protocol, from the tables notebooks 03-07 wrote."""
    curves, headline, paper, last, controls = [], [], [], [], []
    for protocol_config in protocol_configs(config):
        intervals, where = _read_if_written(protocol_config, "layer_intervals_linear")
        for _, rows in (intervals.groupby(["model", "corpus"], sort=False) if not intervals.empty else []):
            if len(rows) > 1:
                curves.append(findings.curve_line(rows, where))
        comparison, where = _read_if_written(protocol_config, COMPARISON_TABLE)
        headline += [findings.comparison_line(row, where) for row in comparison.itertuples()]
        definition, where = _read_if_written(protocol_config, PAPER_DEFINITION_TABLE)
        paper += [findings.paper_definition_line(row, where) for row in definition.itertuples()]
        against_last, where = _read_if_written(protocol_config, "layer_vs_last_linear")
        last += [findings.comparison_line(row, where) for row in against_last.itertuples()]
        against_controls, where = _read_if_written(protocol_config, "controls_linear")
        controls += [findings.comparison_line(row, where) for row in against_controls.itertuples()]
    return [
        ("Which layer carries emotion (the paper's probe, every hidden state)", curves),
        ("Best single layer vs all-layer aggregation (layer chosen on dev inside every fold)", headline),
        ("The paper's own definition of its headline (layer chosen on test)", paper),
        ("Best layer vs the last layer", last),
        ("Pretrained models against their controls (random-init copy, acoustic baselines)", controls),
    ]


def write_findings(config: StudyConfig) -> tuple[Path, str]:
    """Write ``results/<profile>/FINDINGS.md`` from the tables; return its path and text."""
    text = findings.render(config.profile, config.description, findings_sections(config))
    path = config.results_dir / "FINDINGS.md"
    findings.write_findings(path, text)
    return path, text
