"""serlib.report.site and `serlib report`: the static HTML report of executed notebooks."""

from __future__ import annotations

import nbformat
from nbclient import NotebookClient

from serlib import cli
from serlib.report.site import build_report_site

KERNEL = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}


def executed_notebook(path):
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# Layer curves\nA figure."),
        nbformat.v4.new_code_cell("import matplotlib\nmatplotlib.use('agg')\nimport matplotlib.pyplot as plt\n"
                                  "%matplotlib inline\nplt.plot([1, 3, 2]);\nplt.show()"),
    ], metadata=KERNEL)
    NotebookClient(notebook, timeout=60, kernel_name="python3").execute()
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, path)


def test_site_embeds_figures_lists_notebooks_and_fronts_findings(tmp_path, capsys):
    results = tmp_path / "results" / "toy"
    executed_notebook(results / "notebooks" / "01_curves.ipynb")
    index = build_report_site(results)
    assert index == results / "report" / "index.html"
    front = index.read_text()
    assert "FINDINGS.md has not been written" in front
    assert '<a href="01_curves.html">Layer curves</a>' in front
    page = (results / "report" / "01_curves.html").read_text()
    assert page.count("<img") == 1 and 'src="data:image/png;base64,' in page
    assert '<a href="index.html">' in page
    # the exporter's style sheets live once in report.css, which the page links
    assert "<style" not in page and '<link rel="stylesheet" href="report.css">' in page
    style = (results / "report" / "report.css").read_text()
    assert len(style) > 50_000 and ".jp-Cell" in style

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
