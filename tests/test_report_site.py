"""serlib.report.site and `serlib report`: the static HTML report of executed notebooks.

:func:`toy_study` builds a small results folder the way the study does (tables -> the findings
stage -> FINDINGS.md and its figures; an executed notebook with a figure, a wide and a long
table), so that these tests and the browser test never depend on committed results.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
from nbclient import NotebookClient

from serlib import cli
from serlib.report.site import build_report_site, environment_summary
from serlib.study.config import CorpusSpec, ModelSpec, StudyConfig

KERNEL = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
PROTOCOLS = ("speaker-cv", "random")


def executed_notebook(path, cells=None):
    notebook = nbformat.v4.new_notebook(cells=cells or [
        nbformat.v4.new_markdown_cell("# Layer curves\nA figure."),
        nbformat.v4.new_code_cell("import matplotlib\nmatplotlib.use('agg')\nimport matplotlib.pyplot as plt\n"
                                  "%matplotlib inline\nplt.plot([1, 3, 2]);\nplt.show()"),
    ], metadata=KERNEL)
    NotebookClient(notebook, timeout=60, kernel_name="python3").execute()
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, path)


def wide_and_long_notebook(path):
    """A notebook with a figure, a table wider than any screen, a long table shown whole and the
    same long table through show_table."""
    executed_notebook(path, [
        nbformat.v4.new_markdown_cell("# Tables\nWide and long tables."),
        nbformat.v4.new_code_cell("import matplotlib\nmatplotlib.use('agg')\nimport matplotlib.pyplot as plt\n"
                                  "%matplotlib inline\nplt.plot([1, 3, 2]);\nplt.show()"),
        nbformat.v4.new_code_cell("import pandas as pd\n"
                                  "pd.DataFrame([[f'a rather long cell value {row}-{column}' for column in range(30)]"
                                  " for row in range(3)],\n"
                                  "             columns=[f'column_with_a_long_name_{c}' for c in range(30)])"),
        nbformat.v4.new_code_cell("pd.set_option('display.max_rows', 200)\n"
                                  "long = pd.DataFrame({'row': range(80), 'value': [v / 7 for v in range(80)]})\nlong"),
        nbformat.v4.new_code_cell("from serlib.report.display import show_table\n"
                                  "show_table(long, '../tables/long.csv')"),
    ])


def _comparison_rows(protocol: str, model: str, pairs) -> list[dict]:
    rows = []
    for single, aggregation, reduction, p_holm in pairs:
        error_b = 0.2
        accuracy_a = 1 - error_b * (1 - reduction)
        rows.append({"corpus": "toy", "model": model, "protocol": protocol, "single": single,
                     "aggregation": aggregation, "layers_chosen": "linear 2 (3/4), linear 1 (1/4)",
                     "accuracy_a": accuracy_a, "accuracy_b": 1 - error_b, "difference": accuracy_a - (1 - error_b),
                     "difference_ci_low": accuracy_a - 0.85, "difference_ci_high": accuracy_a - 0.75,
                     "relative_error_reduction": reduction, "reduction_ci_low": reduction - 0.15,
                     "reduction_ci_high": reduction + 0.15, "p_value": p_holm / 4, "n_utterances": 120,
                     "n_observations": 120, "n_speakers": 6, "n_folds": 6, "n_seeds": 2, "p_holm": p_holm,
                     "family": len(pairs)})
    return rows


def toy_study(root: Path) -> StudyConfig:
    """A results folder with the tables of two protocols (a pretrained model, its random-init
    copy, an acoustic baseline), FINDINGS.md and its figures written by the findings stage."""
    from serlib.study import reporting

    results = root / "results" / "toy"
    config = StudyConfig(
        profile="toy", description="A toy study for the report's tests.", figure_label="toy",
        work_dir=root / "work", results_dir=results,
        corpora=(CorpusSpec("toy", "toy", None, "unset"),),
        models=(ModelSpec("model-a", "model-a", "model-a"),
                ModelSpec("model-a-random-init", "random:model-a", "random:model-a"),
                ModelSpec("acoustic:mfcc", "acoustic:mfcc", "acoustic:mfcc")),
        split_protocol=PROTOCOLS[0], split_protocols=PROTOCOLS)
    tables = results / "tables"
    tables.mkdir(parents=True)
    generator = np.random.default_rng(0)
    pairs = [(single, aggregation, reduction, p_holm)
             for single, (reduction, p_holm) in (("best-layer(linear)", (0.30, 0.01)),
                                                 ("best-layer(dense-pooled)", (0.10, 0.40)),
                                                 ("best-layer(linear|dense-pooled)", (-0.25, 0.02)))
             for aggregation in ("aggregate-pooled", "aggregate-softmax")]
    for protocol in PROTOCOLS:
        curves = [{"corpus": "toy", "model": model, "probe": "linear", "protocol": protocol, "layer": layer,
                   "accuracy": accuracy, "ci_low": accuracy - 0.05, "ci_high": accuracy + 0.05, "uar": accuracy,
                   "macro_f1": accuracy, "n_utterances": 120, "n_observations": 120, "n_speakers": 6,
                   "n_folds": 6, "n_seeds": 2}
                  for model, levels in (("model-a", [0.5, 0.7, 0.8, 0.65]),
                                        ("model-a-random-init", list(0.3 + 0.02 * generator.random(4))),
                                        ("acoustic:mfcc", [0.45]))
                  for layer, accuracy in enumerate(levels)]
        pd.DataFrame(curves).to_csv(tables / f"layer_intervals_linear.{protocol}.csv", index=False)
        rows = (_comparison_rows(protocol, "model-a", pairs)
                + _comparison_rows(protocol, "model-a-random-init", pairs[:2]))
        pd.DataFrame(rows).to_csv(tables / f"aggregation_comparison.{protocol}.csv", index=False)
    reporting.write_findings(config)
    return config


def test_site_embeds_figures_lists_notebooks_and_fronts_findings(tmp_path, capsys):
    results = tmp_path / "results" / "toy"
    executed_notebook(results / "notebooks" / "01_curves.ipynb")
    index = build_report_site(results)
    assert index == results / "report" / "index.html"
    front = index.read_text()
    assert "FINDINGS.md has not been written" in front
    assert '<a href="01_curves.html">Layer curves</a>' in front
    assert "Where these results were computed" not in front  # no environment.json
    page = (results / "report" / "01_curves.html").read_text()
    assert page.count("<img") == 1 and 'src="data:image/png;base64,' in page
    assert '<a href="index.html">' in page
    # the exporter's style sheets live once in report.css, which the page links
    assert "<style" not in page and '<link rel="stylesheet" href="report.css">' in page
    style = (results / "report" / "report.css").read_text()
    assert len(style) > 50_000 and ".jp-Cell" in style and "details.serlib-code" in style
    # nothing is fetched from the network: the lab template's CDN scripts are left out
    assert not re.findall(r"<script[^>]+src=", page)

    (results / "FINDINGS.md").write_text(
        "# Findings\n\nBlock **2** is best ([curves](notebooks/01_curves.ipynb#Layer-curves)).\n\n"
        "![curve](figures/curve.png) [paper](https://arxiv.org/abs/2308.08713)\n")
    assert cli.main(["report", str(results)]) == 0
    assert capsys.readouterr().out == f"{index}\n"
    front = index.read_text()
    assert "<h1>Findings</h1>" in front and "<strong>2</strong>" in front
    assert 'href="01_curves.html#Layer-curves"' in front
    assert 'src="../figures/curve.png"' in front and 'href="https://arxiv.org/abs/2308.08713"' in front
    assert "has not been written" not in front


def test_code_is_folded_and_wide_or_long_tables_get_a_box_of_their_own(tmp_path):
    results = tmp_path / "results" / "toy"
    wide_and_long_notebook(results / "notebooks" / "01_tables.ipynb")
    build_report_site(results)
    page = (results / "report" / "01_tables.html").read_text()
    folded = re.findall(r'<details class="serlib-code"><summary>(.*?)</summary>', page, re.S)
    assert len(folded) == 4 and "<details open" not in page  # every code input, closed
    assert "In [2]" in folded[1] and "3 lines" in folded[1]
    boxes = re.findall(r'<div class="(serlib-table-box[^"]*)"><table', page)
    # the wide table, the long one shown whole (capped), the first 25 rows of show_table (not capped)
    assert boxes == ["serlib-table-box", "serlib-table-box serlib-long-table", "serlib-table-box"]
    assert "showing 25 of 80 rows; full table: " in page and 'href="../tables/long.csv"' in page


def test_front_page_leads_with_the_figures_and_the_headline_table(tmp_path):
    config = toy_study(tmp_path)
    executed_notebook(config.results_dir / "notebooks" / "01_curves.ipynb")
    front = build_report_site(config.results_dir).read_text()
    first_notebook_link = front.index('href="01_curves.html"')
    assert front.index('src="../figures/layer_curves_with_controls.speaker-cv.png"') < first_notebook_link
    assert front.index('src="../figures/aggregation_forest.png"') < first_notebook_link
    assert front.index("<table") < first_notebook_link
    assert (config.figures_dir / "layer_curves_with_controls.speaker-cv.png").is_file()
    assert '<section class="summary">' in front and "serlib-table-box" in front


def test_environment_record_is_summarised_with_only_the_keys_it_has(tmp_path):
    record = tmp_path / "environment.json"
    assert environment_summary(record) == []  # no file: nothing shown
    record.write_text("{not json")
    assert environment_summary(record) == []
    full = json.dumps({  # as serlib.study.environment writes it, less a few keys
        "git": {"commit": "0123abc", "dirty": True},
        "cpu": {"model": "Some CPU @ 2 GHz", "flags": ["fpu", "sse2", "avx2", "fma"],
                "numerics_flags": {"avx2": True, "fma": True, "avx512f": False}, "cores": 2},
        "torch": {"num_threads": 2, "cpu_capability": "AVX2", "gpus": []},
        "versions": {"torch": "2.13.0", "numpy": "2.1.0", "scikit-learn": None},
        "feature_stores": {"whisper-base x emodb": {"dtype": "float32", "cache_key": "abc"},
                           "other x emodb": {"missing": True}},
    })
    record.write_text(full)
    summary = dict(environment_summary(record))
    assert summary == {"git commit": "0123abc", "uncommitted changes": "yes", "CPU": "Some CPU @ 2 GHz",
                       "CPU flags (numerics)": "avx2 fma (without avx512f)", "cores": "2", "threads": "2",
                       "torch CPU capability": "AVX2", "torch": "2.13.0", "numpy": "2.1.0",
                       "feature dtype per store": "whisper-base x emodb: float32, other x emodb: missing"}
    record.write_text(json.dumps({"cpu": {"flags": ["sse2", "avx512f", "amx_tile"]}}))
    assert environment_summary(record) == [("CPU flags (numerics)", "avx512f amx_tile")]
    results = tmp_path / "results" / "toy"
    executed_notebook(results / "notebooks" / "01_curves.ipynb")
    (results / "environment.json").write_text(full)
    front = build_report_site(results).read_text()
    assert "Where these results were computed" in front and "<dd>Some CPU @ 2 GHz</dd>" in front
    assert "transformers" not in front  # a key the record lacks is simply not shown
