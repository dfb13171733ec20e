"""The report as a reader sees it: figures inside the executed notebooks, no machine paths,
README findings generated from FINDINGS.md."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from serlib.report import findings

REPO_ROOT = Path(__file__).resolve().parents[1]
MACHINE_PATH = re.compile(r"(?<![\w.])/(?:work|root|home|tmp|Users)/")


def test_a_saved_figure_is_embedded_in_the_executed_notebook_as_png(tmp_path):
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "from pathlib import Path\n"
        "import matplotlib.pyplot as plt\n"
        "from serlib.report import plots\n"
        "figure, axis = plt.subplots()\n"
        "axis.plot([0, 1], [1, 0])\n"
        "axis.set_title('falling line')\n"
        "plots.save_figure(figure, Path('figures'), 'line')\n")])
    NotebookClient(notebook, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = notebook.cells[0].outputs
    assert [output.output_type for output in outputs] == ["display_data"]  # the image, nothing printed
    assert "image/png" in outputs[0].data and len(outputs[0].data["image/png"]) > 1000
    assert (tmp_path / "figures" / "line.png").is_file() and (tmp_path / "figures" / "line.svg").is_file()
    assert "falling line</text>" in (tmp_path / "figures" / "line.svg").read_text()  # text, not outlines


def _committed_results() -> list[Path]:
    listed = subprocess.run(["git", "ls-files", "results"], cwd=REPO_ROOT, capture_output=True, text=True)
    return [REPO_ROOT / name for name in listed.stdout.splitlines()]


def test_no_committed_result_names_a_path_of_the_machine_that_ran_it():
    files = [path for path in _committed_results() if path.suffix in (".ipynb", ".csv", ".md", ".html", ".json", ".svg")]
    if not files:
        pytest.skip("no committed results (not a git checkout)")
    leaks = {path.relative_to(REPO_ROOT).as_posix(): MACHINE_PATH.findall(path.read_text(errors="replace"))
             for path in files if path.is_file()}
    assert {name: found for name, found in leaks.items() if found} == {}


@pytest.mark.parametrize("profile", ["demo", "real-small"])
def test_every_executed_notebook_that_makes_figures_shows_them(profile):
    executed = sorted((REPO_ROOT / "results" / profile / "notebooks").glob("*.ipynb"))
    if not executed:
        pytest.skip(f"results/{profile} has no executed notebooks")
    blind = []
    for path in executed:
        notebook = nbformat.read(path, as_version=4)
        code = "".join(cell.source for cell in notebook.cells if cell.cell_type == "code")
        images = sum("image/png" in output.get("data", {}) for cell in notebook.cells
                     for output in cell.get("outputs", []))
        if "plots.save_figure" in code and images == 0:
            blind.append(path.name)
    assert blind == []


README_SECTION = "## What it finds on the real data available here (`real-small`)"


def test_readme_findings_are_those_of_the_real_data_profile():
    findings_file = REPO_ROOT / "results" / "real-small" / "FINDINGS.md"
    readme = (REPO_ROOT / "README.md").read_text()
    block = findings.readme_findings(readme)
    assert block is not None, "README.md has lost its findings markers"
    assert findings_file.is_file(), "results/real-small/FINDINGS.md is missing: run ./run_all.sh real-small"
    assert block == findings.findings_block(findings_file.read_text(), "results/real-small"), (
        "README findings differ from results/real-small/FINDINGS.md: run "
        "`serlib findings real-small --readme README.md`")
    lines = block.splitlines()[1:-1]
    assert len(lines) <= 30, f"the README's findings block has {len(lines)} lines; at most 30"
    assert any(line.startswith("| protocol |") for line in lines), "the block has lost its headline table"
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", block)
    assert len(images) == 2 and all((REPO_ROOT / image).is_file() for image in images), images


def test_readme_prose_around_the_findings_holds_no_number_of_its_own():
    """Numbers and verdicts live in the generated block only: the section's prose says how to
    read it, so that it stays true when a rerun changes the numbers."""
    readme = (REPO_ROOT / "README.md").read_text()
    section = readme.split(README_SECTION, 1)[1].split("\n## ", 1)[0]
    block = findings.readme_findings(section)
    assert block is not None, "the findings block is no longer in the section"
    prose = section.replace(block, "")
    prose = re.sub(r"`[^`]*`", "", prose)  # code spans: probe names, commands, paths
    prose = re.sub(r"\]\([^)]*\)", "]", prose)  # link targets
    prose = prose.replace("95%", "").replace("0.05", "")  # the method's constants, not results
    assert re.findall(r"\d", prose) == []
    for verdict in ("A better", "single layer better", "clear win", "reproduced"):
        assert verdict not in prose


def test_findings_summary_is_copied_into_the_readme_between_its_markers(tmp_path):
    results = tmp_path / "results" / "x"
    results.mkdir(parents=True)
    findings_file = results / "FINDINGS.md"
    findings_file.write_text(f"# Findings: profile `x`\n\nintro\n\n{findings.SUMMARY_START}\n"
                             "![curve](figures/curve.png)\n\nsee [all](FINDINGS.md), [paper](https://x.org/a)\n"
                             f"{findings.SUMMARY_END}\n\n## Claims\n\n| a |\n|---|\n| 1 |\n")
    readme = tmp_path / "README.md"
    readme.write_text(f"# Title\n\nbefore\n\n{findings.README_START}\nold text\n{findings.README_END}\n\nafter\n")
    assert findings.sync_readme(readme, findings_file) is True
    text = readme.read_text()
    assert "old text" not in text and "## Claims" not in text and "# Findings" not in text
    # links are rebased from the results folder onto the README's folder; external ones kept
    assert "![curve](results/x/figures/curve.png)" in text and "[all](results/x/FINDINGS.md)" in text
    assert "[paper](https://x.org/a)" in text
    assert text.startswith("# Title\n\nbefore\n\n") and text.endswith("\n\nafter\n")
    assert findings.sync_readme(readme, findings_file) is False  # already in step


def _comparisons(rows):
    """A comparison table: (protocol, model, single, aggregation, reduction, low, high, p_holm)."""
    import pandas as pd

    return pd.DataFrame([{"corpus": "c", "model": model, "protocol": protocol, "single": single,
                          "aggregation": aggregation, "layers_chosen": "linear 2 (2/2)", "accuracy_a": 0.8,
                          "accuracy_b": 0.75, "difference": 0.05 if reduction > 0 else -0.05,
                          "difference_ci_low": -0.01, "difference_ci_high": 0.1,
                          "relative_error_reduction": reduction, "reduction_ci_low": low, "reduction_ci_high": high,
                          "p_value": p_holm, "p_holm": p_holm, "family": len(rows), "n_utterances": 100,
                          "n_observations": 100, "n_speakers": 5, "n_folds": 5, "n_seeds": 2}
                         for protocol, model, single, aggregation, reduction, low, high, p_holm in rows])


def test_findings_tables_carry_intervals_protocol_and_n_and_the_intro_counts_the_verdicts():
    comparisons = _comparisons([
        ("cv", "m", "best-layer(linear)", "aggregate-pooled", 0.3, 0.1, 0.5, 0.01),
        ("cv", "m", "best-layer(linear)", "aggregate-softmax", -0.2, -0.4, -0.05, 0.03),
        ("cv", "m", "best-layer(linear|dense)", "aggregate-pooled", 0.05, -0.1, 0.2, 0.5),
        ("random", "m", "best-layer(linear)", "aggregate-pooled", 0.1, -0.2, 0.3, 0.9),
    ])
    section = findings.aggregation_section(comparisons, ["tables/aggregation_comparison.cv.csv"],
                                           protocols=["random", "cv"])
    table = section.table
    assert list(table["protocol"]) == ["random", "cv", "cv", "cv"]  # the profile's protocol order
    assert list(table["verdict"]) == ["no clear difference", "single layer better", "aggregation better",
                                      "no clear difference"]
    assert table["relative error reduction [95% CI]"].iloc[1] == "+30.0% [+10.0%, +50.0%]"
    assert table["n"].iloc[0] == "100 utt. (5 speakers), 5 folds x 2 seeds"
    assert ("single layer better in 1, aggregation better in 1 and no clear difference in 2"
            in section.intro)
    text = findings.render("p", "A profile.", [section],
                           findings.summary_block([("curve", "figures/c.png")], comparisons))
    assert "\n| random | c | m |" in text and "best-layer(linear\\|dense)" in text  # escaped in a cell
    assert "[`tables/aggregation_comparison.cv.csv`](tables/aggregation_comparison.cv.csv)" in text
    assert findings.summary_of(text).startswith("![curve](figures/c.png)")


def test_the_summary_puts_the_headline_table_before_the_tall_forest_plot():
    comparisons = _comparisons([("cv", "m", "best-layer(linear)", "aggregate-pooled", 0.1, 0.0, 0.2, 0.2)])
    block = findings.summary_block([("curve", "figures/c.png"), ("forest", "figures/f.png")], comparisons)
    order = [block.index(part) for part in ("![curve]", "| protocol |", "Of 1 pairing", "![forest]")]
    assert order == sorted(order)
    assert block.endswith("![forest](figures/f.png)\n" + findings.SUMMARY_END)


def test_compact_headline_keeps_the_pretrained_models_and_the_choice_between_probes():
    comparisons = _comparisons(
        [(protocol, model, single, aggregation, 0.1, 0.0, 0.2, 0.2)
         for protocol in ("cv", "random") for model in ("m", "m-random-init")
         for single in ("best-layer(linear)", "best-layer(dense)", "best-layer(linear|dense)")
         for aggregation in ("aggregate-pooled", "aggregate-softmax", "aggregate-concat")])
    table, note = findings.compact_headline(comparisons, pretrained=["m"])
    assert len(table) == 6 and set(table["single layer (chosen on dev)"]) == {"best-layer(linear|dense)"}
    assert list(table.columns) == ["protocol", "model", "single layer (chosen on dev)", "aggregation",
                                   "relative error reduction [95% CI]", "Holm p", "verdict"]
    assert note.startswith("6 of 36 pairings shown") and "FINDINGS.md" in note
    table, note = findings.compact_headline(comparisons, pretrained=["m"], rows=4)
    assert len(table) == 3 and set(table["protocol"]) == {"cv"}  # the main protocol only
    table, _ = findings.compact_headline(comparisons, pretrained=None, rows=2)
    assert len(table) == 2


def test_forest_plot_has_a_row_per_pairing_marked_by_its_verdict_and_grows_with_the_rows():
    import matplotlib

    from serlib.report import plots

    matplotlib.use("agg")
    rows = [("cv", "m", "best-layer(linear)", f"aggregate-{index}", reduction, reduction - 0.1, reduction + 0.1, p)
            for index, (reduction, p) in enumerate([(0.3, 0.01), (-0.3, 0.01), (0.05, 0.6)])]
    rows.append(("cv", "m", "best-layer(dense)", "aggregate-x", 0.2, float("-inf"), 0.4, 0.3))
    small = _comparisons(rows)
    verdicts = [findings.verdict(row, findings.SINGLE_BETTER, findings.AGGREGATION_BETTER)
                for row in small.itertuples()]
    assert verdicts == ["single layer better", "aggregation better", "no clear difference", "no clear difference"]
    figure = plots.aggregation_forest(small, verdicts)
    axis = figure.axes[0]
    ticks = sorted(zip(axis.get_yticks(), (label.get_text() for label in axis.get_yticklabels())), reverse=True)
    assert [label for _, label in ticks] == [f"cv · m · {row[2]} vs {row[3]}" for row in rows]  # top to bottom
    points = [line for line in axis.get_lines() if line.get_marker() == "o" and len(line.get_xdata()) == 1]
    faces = [matplotlib.colors.to_hex(line.get_markerfacecolor()) for line in points]
    assert faces == [plots.VERDICT_STYLE["single layer better"]["color"],
                     plots.VERDICT_STYLE["aggregation better"]["color"], "#ffffff", "#ffffff"]
    assert any(line.get_marker() == "<" for line in axis.get_lines())  # the infinite end, clipped
    assert 0 in [line.get_xdata()[0] for line in axis.get_lines() if line.get_linestyle() == "-"
                 and len(set(line.get_xdata())) == 1 and len(line.get_xdata()) == 2]  # the line at 0
    tall = plots.aggregation_forest(_comparisons(rows * 10), verdicts * 10)
    assert tall.get_figheight() > 3 * figure.get_figheight()


def test_layer_curve_figure_draws_controls_as_such():
    import matplotlib
    import pandas as pd

    from serlib.report import plots

    matplotlib.use("agg")
    intervals = pd.DataFrame([{"corpus": "c", "model": model, "layer": str(layer), "accuracy": accuracy,
                               "ci_low": accuracy - 0.05, "ci_high": accuracy + 0.05}
                              for model, levels in (("m", [0.5, 0.8, 0.7]), ("m-random-init", [0.3, 0.3, 0.31]),
                                                    ("acoustic:mfcc", [0.45]))
                              for layer, accuracy in enumerate(levels)])
    figure = plots.layer_curves_with_controls(intervals, copies={"m-random-init": "m"}, chance={"c": 0.2})
    lines = {line.get_label(): line for line in figure.axes[0].get_lines()}
    assert lines["m"].get_linestyle() == "-" and lines["m-random-init (random-init copy)"].get_linestyle() == "--"
    assert lines["m-random-init (random-init copy)"].get_color() == lines["m"].get_color()
    assert list(lines["acoustic:mfcc (acoustic baseline)"].get_ydata()) == [0.45, 0.45]  # a horizontal line
    assert list(lines["majority class"].get_ydata()) == [0.2, 0.2]
    assert [text.get_text() for text in figure.legends[0].get_texts()][-1] == "majority class"


def test_show_table_shows_the_first_rows_and_links_the_whole_table():
    import pandas as pd

    from serlib.report import display

    table = pd.DataFrame({"layer": range(40), "accuracy": [0.5] * 40})
    page = display.table_html(table, "/somewhere/results/p/tables/layer_intervals_linear.cv.csv")
    assert page.count("<tr") == 1 + 25 and ">24<" in page and ">25<" not in page
    assert ("showing 25 of 40 rows; full table: <a href=\"../tables/layer_intervals_linear.cv.csv\">"
            in page)
    short = display.table_html(table.head(3), ["tables/a.cv.csv", "tables/a.random.csv"])
    assert "3 rows; table: " in short and 'href="../tables/a.random.csv"' in short
    assert "full table" not in display.table_html(table, None) and "showing 25 of 40 rows" in display.table_html(table)


def test_paper_style_summary_puts_the_papers_numbers_beside_ours():
    import pandas as pd

    from serlib.report import paper_reference

    def intervals(probe, model, accuracies):
        return [{"corpus": "emodb", "model": model, "probe": probe, "protocol": "cv", "layer": layer,
                 "accuracy": accuracy, "ci_low": accuracy - 0.02, "ci_high": accuracy + 0.02,
                 "n_utterances": 100, "n_speakers": 5, "n_folds": 5, "n_seeds": 2}
                for layer, accuracy in zip(["all"] if probe.startswith("aggregate") else range(len(accuracies)),
                                           accuracies)]
    tables = {
        "linear": pd.DataFrame(intervals("linear", "wav2vec2-base", [0.5, 0.9, 0.7])
                               + intervals("linear", "whisper-base", [0.4, 0.6, 0.8])),
        "dense": pd.DataFrame(intervals("dense", "wav2vec2-base", [0.5, 0.6, 0.95])),
        "dense-pooled": pd.DataFrame(intervals("dense-pooled", "wav2vec2-base", [0.99, 0.6, 0.5])
                                     + intervals("dense-pooled", "whisper-base", [0.5, 0.7, 0.6])),
        "aggregate-pooled": pd.DataFrame(intervals("aggregate-pooled", "wav2vec2-base", [0.85])),
    }
    paper = paper_reference.load_paper_results()
    summary = paper_reference.paper_style_summary(tables, paper).set_index("model")
    ours = summary.loc["wav2vec2-base"]
    assert ours["linear_layer"] == 1 and ours["linear_accuracy"] == 0.9 and ours["linear_ci_low"] == 0.88
    assert ours["dense_probe"] == "dense" and ours["dense_layer"] == 2  # the frame-level probe where it ran
    assert ours["aggregation_probe"] == "aggregate-pooled" and ours["aggregation_accuracy"] == 0.85
    published = paper[(paper["corpus"] == "EmoDB") & (paper["model"] == "WAV2VEC2_BASE")].set_index("probe")
    assert ours["paper_model"] == "WAV2VEC2_BASE" and ours["paper_match"] == paper_reference.SAME_MODEL
    assert ours["paper_dense_accuracy"] == published.loc["dense", "accuracy_mean"]
    assert ours["paper_linear_layer"] == published.loc["linear", "layer"]
    other = summary.loc["whisper-base"]  # not in the paper: its best model on the corpus instead
    assert other["dense_probe"] == "dense-pooled" and pd.isna(other["aggregation_probe"])
    emodb = paper[paper["corpus"] == "EmoDB"]
    assert other["paper_model"] == emodb.loc[emodb["accuracy_mean"].idxmax(), "model"]
    assert other["paper_match"] == paper_reference.BEST_MODEL
    assert paper_reference.paper_model_name("hubert-large-ft") == "HUBERT_ASR_LARGE"
    assert paper_reference.paper_model_name("facebook/wav2vec2-large-xlsr-53") == "WAV2VEC2_LARGE_XLSR"


def test_strip_plot_jitter_is_the_same_on_every_run(tmp_path):
    """A rerun draws the same duration figure, whatever NumPy's global generator holds."""
    import matplotlib
    import numpy as np
    import pandas as pd

    from serlib.report import plots

    matplotlib.use("agg")
    manifests = pd.DataFrame({"corpus_id": ["a"] * 20 + ["b"] * 20,
                              "duration_s": np.linspace(1, 3, 40), "label": ["x", "y"] * 20})
    drawn = []
    for seed in (1, 2):
        np.random.seed(seed)
        plots.save_figure(plots.duration_plot(manifests), tmp_path, f"durations{seed}")
        drawn.append((tmp_path / f"durations{seed}.svg").read_bytes())
        assert np.random.get_state()[1][0] == np.random.RandomState(seed).get_state()[1][0]
    assert drawn[0] == drawn[1]
