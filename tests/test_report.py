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
        "plots.save_figure(figure, Path('figures'), 'line')\n")])
    NotebookClient(notebook, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = notebook.cells[0].outputs
    assert [output.output_type for output in outputs] == ["display_data"]  # the image, nothing printed
    assert "image/png" in outputs[0].data and len(outputs[0].data["image/png"]) > 1000
    assert (tmp_path / "figures" / "line.png").is_file() and (tmp_path / "figures" / "line.svg").is_file()


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


def test_readme_findings_are_those_of_the_real_data_profile():
    findings_file = REPO_ROOT / "results" / "real-small" / "FINDINGS.md"
    readme = (REPO_ROOT / "README.md").read_text()
    block = findings.readme_findings(readme)
    assert block is not None, "README.md has lost its findings markers"
    assert findings_file.is_file(), "results/real-small/FINDINGS.md is missing: run ./run_all.sh real-small"
    assert block == findings.findings_block(findings_file.read_text()), (
        "README findings differ from results/real-small/FINDINGS.md: run "
        "`serlib findings real-small --readme README.md`")


def test_findings_block_is_copied_into_the_readme_between_its_markers(tmp_path):
    findings_file = tmp_path / "FINDINGS.md"
    findings_file.write_text("# Findings: profile `x`\n\nintro\n\n## Claims\n\n- one claim [0.1, 0.2]\n")
    readme = tmp_path / "README.md"
    readme.write_text(f"# Title\n\nbefore\n\n{findings.README_START}\nold text\n{findings.README_END}\n\nafter\n")
    assert findings.sync_readme(readme, findings_file) is True
    text = readme.read_text()
    assert "old text" not in text and "- one claim [0.1, 0.2]" in text and "# Findings" not in text
    assert "\n### Claims\n" in text  # nested under the README's own section
    assert text.startswith("# Title\n\nbefore\n\n") and text.endswith("\n\nafter\n")
    assert findings.sync_readme(readme, findings_file) is False  # already in step


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
