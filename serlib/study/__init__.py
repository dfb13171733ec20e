"""The study's stages over a whole profile: what the notebooks call (``from serlib import study``).

Each stage function takes the :class:`~serlib.study.config.StudyConfig` and runs one step for
every corpus (and model) of the profile, reusing what earlier runs left on disk:

- :func:`preflight` (``checks``) lists everything a profile needs that is missing, before any work;
- :func:`prepare_corpora` writes each corpus's manifest and split (notebook 01, ``prepare``);
- :func:`extract_all` fills the feature store for every model x corpus (notebook 02, ``extraction``);
- :func:`probe_all` trains one probe for every model x corpus, cached (notebooks 03-05, ``probe_runs``);
- :func:`layer_selection`, :func:`learning_curves`, :func:`with_protocol` (notebook 07,
  ``analyses``) and :func:`transfer` (notebook 08, ``transfer_runs``) answer the questions
  beyond the paper;
- ``reporting``: the tables with intervals per protocol (:func:`layer_interval_table`,
  :func:`aggregation_comparison_table`, :func:`controls_table`, ...) and :func:`write_findings`
  (notebook 11, ``results/<profile>/FINDINGS.md``).

Results tables go to ``results/<profile>/tables/`` (:func:`table_path`); caches to
``work/<profile>/``. Extraction and probe jobs run through :mod:`serlib.study.execution`
(in-process, submitit's local executor, or a SLURM array). :mod:`serlib.study.runner` executes
the notebooks with papermill.

May import: every lower package (``serlib.common``, ``data``, ``features``, ``probing``,
``report``); never ``serlib.cli`` or argparse. Heavy libraries (torch, transformers) load only
inside the stage functions that need them.
"""

from serlib.study.analyses import layer_selection, layered_models, learning_curves, protocol_gap, with_protocol
from serlib.study.config import CorpusSpec, ModelSpec, StudyConfig, load_config, load_study
from serlib.study.extraction import extract_all, extract_one
from serlib.study.stores import feature_folder, finished_index
from serlib.study.checks import model_location, preflight
from serlib.study.plan import planned_vs_measured
from serlib.study.prepare import (SYNTHETIC, PreparedCorpus, all_manifests, corpus_summary, label_counts,
                                  prepare_corpora, prepare_corpus)
from serlib.study.frame_runs import frame_probes, frame_stage_records
from serlib.study.probe_cache import PROBE_SETTINGS, probe_applies, probe_label, probe_settings, probes_run_under
from serlib.study.probe_runs import majority_levels, probe_all, probe_run
from serlib.study.reporting import (aggregation_comparison_table, control_pairs, controls_table,
                                    findings_sections, headline_figures, layer_interval_table,
                                    layer_vs_last_table, paper_style_table, pooling_comparison_table,
                                    protocol_configs, relative_to_results, write_findings)
from serlib.study.tables import (cached_tables, predictions_path, read_predictions, read_probe_table, split_name,
                                 table_path)
from serlib.study.transfer_runs import transfer, transfer_study

__all__ = [
    "aggregation_comparison_table", "control_pairs", "controls_table", "layer_interval_table",
    "layer_vs_last_table", "predictions_path", "probes_run_under", "protocol_configs", "read_predictions",
    "relative_to_results", "write_findings", "findings_sections", "headline_figures", "paper_style_table",
    "pooling_comparison_table",
    "PROBE_SETTINGS", "SYNTHETIC", "CorpusSpec", "ModelSpec", "PreparedCorpus", "StudyConfig",
    "all_manifests", "cached_tables", "corpus_summary", "extract_all", "extract_one",
    "feature_folder", "finished_index", "frame_probes", "frame_stage_records", "label_counts", "layer_selection", "layered_models",
    "learning_curves", "load_config", "load_study", "majority_levels", "model_location",
    "planned_vs_measured", "preflight", "prepare_corpora", "prepare_corpus", "probe_all", "probe_applies", "probe_label",
    "probe_run", "probe_settings", "protocol_gap", "read_probe_table", "split_name", "table_path",
    "transfer", "transfer_study", "with_protocol",
]
