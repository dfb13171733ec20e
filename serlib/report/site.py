"""The static HTML report of a profile: ``results/<profile>/report/`` (``serlib report PROFILE``).

:func:`build_report_site` turns a results folder into one self-contained site:

- ``<NN_name>.html`` per executed notebook in ``notebooks/``, rendered by nbconvert's HTML
  exporter (JupyterLab's look); figures are embedded as data URIs, and the exporter's style
  sheets (about 260 KB, the same for every page) are written once to ``report.css``, which
  every page links, so the site opens from the file system with no server;
- ``index.html``: ``FINDINGS.md`` of the results folder rendered as the front page (with a note
  when it is absent), followed by the table of contents (one link per notebook, titled by its
  first heading). Relative links of FINDINGS.md are rewritten for the report folder: a link to
  a notebook opens its HTML page, anything else points into the results folder.

Why nbconvert and not Jupyter Book 2 / MyST: the MyST engine is a Node.js program that, on
first use, fetches its theme from the network, and its static build needs that theme; this
study runs offline. nbconvert is already installed with JupyterLab, renders executed notebooks
exactly as saved (no re-execution), and embeds the figures.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

from serlib.common.files import atomic_write_text

FINDINGS = "FINDINGS.md"
INDEX = "index.html"
NOTEBOOK_FOLDER = "notebooks"
STYLE_SHEET = "report.css"
STYLE_BLOCK = re.compile(r"<style[^>]*>(.*?)</style>", re.DOTALL)
EXTERNAL = re.compile(r"^([a-z][a-z0-9+.-]*:|#|/)", re.IGNORECASE)
NAVIGATION = ('<nav style="font-family:sans-serif;padding:0.5em 1em;border-bottom:1px solid #ccc">'
              '<a href="index.html">&larr; report contents</a></nav>')
PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto;padding:0 1em;line-height:1.5}}
img{{max-width:100%}} table{{border-collapse:collapse}} td,th{{border:1px solid #ccc;padding:0.2em 0.5em}}
.note{{background:#fff6dd;padding:0.5em 1em;border-left:4px solid #e0b000}}</style></head>
<body>
{findings}
<h2 id="contents">Notebooks</h2>
<ol class="toc">
{toc}
</ol>
</body></html>
"""


def build_report_site(results_dir: str | Path, report_dir: str | Path | None = None) -> Path:
    """Render every executed notebook of ``results_dir`` and the front page; return ``index.html``.

    ``report_dir`` defaults to ``results_dir/report``. Pages of notebooks that no longer exist
    are left alone; every notebook page and the index are rewritten.
    """
    from nbconvert import HTMLExporter

    results_dir = Path(results_dir)
    report_dir = Path(report_dir) if report_dir is not None else results_dir / "report"
    notebooks = sorted((results_dir / NOTEBOOK_FOLDER).glob("*.ipynb"))
    exporter = HTMLExporter(template_name="lab", embed_images=True)
    entries, style_sheets = [], {}
    for notebook in notebooks:
        body, _ = exporter.from_filename(str(notebook))
        body = _link_style_sheets(body, style_sheets)
        body = re.sub(r"(<body[^>]*>)", r"\1" + NAVIGATION, body, count=1)
        page = f"{notebook.stem}.html"
        atomic_write_text(report_dir / page, body)
        entries.append(f'<li><a href="{page}">{html.escape(_notebook_title(notebook))}</a> '
                       f"<small>({html.escape(notebook.name)})</small></li>")
    if style_sheets:
        atomic_write_text(report_dir / STYLE_SHEET, "\n".join(style_sheets))
    index = PAGE.format(
        title=f"Report: {html.escape(results_dir.name)}",
        findings=_findings_html(results_dir),
        toc="\n".join(entries) or "<li>no executed notebooks yet: run ./run_all.sh</li>",
    )
    return atomic_write_text(report_dir / INDEX, index)


def _link_style_sheets(page: str, style_sheets: dict[str, None]) -> str:
    """``page`` with its ``<style>`` blocks replaced by one link to :data:`STYLE_SHEET`; the
    blocks' contents are added, once each and in order, to ``style_sheets``."""
    blocks = STYLE_BLOCK.findall(page)
    if not blocks:
        return page
    for block in blocks:
        style_sheets.setdefault(block, None)
    page = STYLE_BLOCK.sub("", page)
    return page.replace("</head>", f'<link rel="stylesheet" href="{STYLE_SHEET}">\n</head>', 1)


def _notebook_title(notebook: Path) -> str:
    """The notebook's first markdown heading, or its file name."""
    import nbformat

    for cell in nbformat.read(notebook, as_version=4).cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("#"):
                    return line.lstrip("#").strip()
    return notebook.stem


def _findings_html(results_dir: Path) -> str:
    findings = results_dir / FINDINGS
    if not findings.is_file():
        return (f'<h1>Report: {html.escape(results_dir.name)}</h1>\n<p class="note">'
                f"{FINDINGS} has not been written for this profile yet (the last notebook writes "
                "it); the executed notebooks below hold every table and figure.</p>")
    from markdown_it import MarkdownIt

    markdown = MarkdownIt("commonmark").enable("table")
    tokens = markdown.parse(findings.read_text(encoding="utf-8"))
    for token in tokens:
        for child in token.children or []:
            for attribute in ("href", "src"):
                link = child.attrGet(attribute)
                if isinstance(link, str):
                    child.attrSet(attribute, _report_link(link))
    return markdown.renderer.render(tokens, markdown.options, {})


def _report_link(link: str) -> str:
    """A link of FINDINGS.md (relative to the results folder) as seen from the report folder."""
    if EXTERNAL.match(link):
        return link
    path, _, anchor = link.partition("#")
    if path.startswith(f"{NOTEBOOK_FOLDER}/") and path.endswith(".ipynb"):
        target = f"{Path(path).stem}.html"
    else:
        target = f"../{path}"
    return f"{target}#{anchor}" if anchor else target
