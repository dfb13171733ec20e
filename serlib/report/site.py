"""The static HTML report of a profile: ``results/<profile>/report/`` (``serlib report PROFILE``).

:func:`build_report_site` turns a results folder into one self-contained site:

- ``<NN_name>.html`` per executed notebook in ``notebooks/``, rendered by nbconvert's HTML
  exporter (JupyterLab's look) through a small template of our own (:data:`TEMPLATE`): every
  code cell's input is folded into a ``<details>`` element, closed by default (a click opens
  it; no script needed), and no script is loaded from the network (the lab template would
  fetch require.js, MathJax and mermaid from a CDN). Figures are embedded as data URIs. The
  exporter's style sheets (the same for every page) are written once to ``report.css``, with
  :data:`SITE_CSS` after them, and every page links it, so the site opens from the file
  system with no server;
- every HTML table (a notebook's data frames, FINDINGS.md's tables) is put in a box of its
  own that scrolls sideways when the table is wider than the page; a table of more than
  :data:`LONG_TABLE_ROWS` rows (one shown without :func:`serlib.report.display.show_table`)
  also gets a capped height and scrolls down inside its box;
- ``index.html``: ``FINDINGS.md`` of the results folder rendered as the front page (its
  figures and headline table first; a note when it is absent), a short record of where the
  results were computed (``environment.json``, when present), then the table of contents (one
  link per notebook, titled by its first heading). Relative links of FINDINGS.md are rewritten
  for the report folder: a link to a notebook opens its HTML page, anything else points into
  the results folder.

Why nbconvert and not Jupyter Book 2 / MyST: the MyST engine is a Node.js program that, on
first use, fetches its theme from the network, and its static build needs that theme; this
study runs offline. nbconvert is already installed with JupyterLab, renders executed notebooks
exactly as saved (no re-execution), and embeds the figures.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

from serlib.common.files import atomic_write_text
from serlib.report.findings import SUMMARY_END, SUMMARY_START

FINDINGS = "FINDINGS.md"
ENVIRONMENT = "environment.json"
INDEX = "index.html"
NOTEBOOK_FOLDER = "notebooks"
STYLE_SHEET = "report.css"
#: The first figure of the summary sits beside the headline table up to this width (pixels).
SIDE_BY_SIDE_PIXELS = 1300
#: A table with more body rows than this gets a capped height (it scrolls inside its box).
LONG_TABLE_ROWS = 25
STYLE_BLOCK = re.compile(r"<style[^>]*>(.*?)</style>", re.DOTALL)
TABLE = re.compile(r"<table\b.*?</table>", re.DOTALL | re.IGNORECASE)
TABLE_ROW = re.compile(r"<tr\b", re.IGNORECASE)
EXTERNAL = re.compile(r"^([a-z][a-z0-9+.-]*:|#|/)", re.IGNORECASE)
TEMPLATE_NAME = "serlib-report.html.j2"

#: nbconvert's lab template, with code inputs folded and no script from the network.
TEMPLATE = """{%- extends 'index.html.j2' -%}
{% block input_group -%}
<details class="serlib-code"><summary>code
{%- if cell.execution_count %} &middot; In [{{ cell.execution_count }}]{% endif %}
{%- set lines = cell.source.splitlines() | length %} &middot; {{ lines }} line{{ "s" if lines != 1 }}</summary>
{{ super() }}
</details>
{%- endblock input_group %}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
"""

#: After the exporter's style sheets in report.css: pages that fit a screen's width.
SITE_CSS = """
/* serlib report: folded code, tables that scroll inside their own box */
body.jp-Notebook { max-width: 100%; overflow-x: hidden; box-sizing: border-box; }
main { max-width: 100%; }
details.serlib-code > summary {
  cursor: pointer; color: var(--jp-ui-font-color2, #666); font-family: var(--jp-code-font-family, monospace);
  font-size: 0.8em; padding: 0.15em 0 0.15em calc(var(--jp-cell-prompt-width, 64px) + 8px);
}
details.serlib-code[open] > summary { margin-bottom: 0.2em; }
.jp-OutputArea-child { display: flex; max-width: 100%; }
.jp-OutputArea-prompt { flex: 0 0 auto; }
.jp-OutputArea-output { display: block; flex: 1 1 auto; min-width: 0; max-width: 100%; overflow-x: auto; }
.jp-Cell, .jp-Cell-outputWrapper, .jp-OutputArea { max-width: 100%; min-width: 0; }
.jp-OutputArea-output img { max-width: 100%; height: auto; }
.jp-InputArea-editor pre, .jp-RenderedText pre { overflow-x: auto; }
.serlib-table-box { max-width: 100%; overflow: auto; margin-bottom: 0.8em; }
.serlib-table-box > table { margin-bottom: 0 !important; }
.serlib-table-box.serlib-long-table { max-height: 40em; border-bottom: 1px solid #ccc; }
.serlib-table-rows { margin: 0.2em 0 0.8em 0; color: #555; }
"""
NAVIGATION = ('<nav style="font-family:sans-serif;padding:0.5em 1em;border-bottom:1px solid #ccc">'
              '<a href="index.html">&larr; report contents</a></nav>')
PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<style>
body{{font-family:sans-serif;max-width:76em;margin:1.5em auto;padding:0 1.5em;line-height:1.45;color:#222}}
h1{{margin-bottom:0.3em}} h2{{margin-top:1.8em;border-bottom:1px solid #ddd;padding-bottom:0.2em}}
img{{max-width:100%;height:auto;display:block;margin:0.6em 0}}
table{{border-collapse:collapse;font-size:0.88em}}
td,th{{border:1px solid #ccc;padding:0.25em 0.5em;vertical-align:top}} th{{background:#f3f3f3;text-align:left}}
tr:nth-child(even) td{{background:#fafafa}}
code{{font-size:0.92em}}
.serlib-table-box{{max-width:100%;overflow:auto;margin:0.6em 0 1em 0}}
.serlib-table-box.serlib-long-table{{max-height:40em;border-bottom:1px solid #ccc}}
.serlib-table-box th{{position:sticky;top:0}}
.summary{{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1fr);gap:0 1.5em;align-items:start}}
.summary>p:first-child{{grid-column:1;grid-row:1 / span 2}}
.summary>.serlib-table-box{{grid-column:2;grid-row:1;margin-top:0.6em}}
.summary>.serlib-table-box+p{{grid-column:2;grid-row:2}}
.summary>.serlib-table-box+p~p{{grid-column:1 / span 2;grid-row:3}}
.summary.stacked{{display:block}} @media (max-width:60em){{.summary{{display:block}}}}
.note{{background:#fff6dd;padding:0.5em 1em;border-left:4px solid #e0b000}}
.environment{{font-size:0.9em;background:#f6f8fa;padding:0.5em 1em;border-left:4px solid #8aa}}
.environment dt{{font-weight:bold;float:left;clear:left;width:11em}} .environment dd{{margin-left:12em}}
</style></head>
<body>
{findings}
{environment}
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
    results_dir = Path(results_dir)
    report_dir = Path(report_dir) if report_dir is not None else results_dir / "report"
    notebooks = sorted((results_dir / NOTEBOOK_FOLDER).glob("*.ipynb"))
    exporter = _exporter()
    entries, style_sheets = [], {}
    for notebook in notebooks:
        body, _ = exporter.from_filename(str(notebook))
        body = _link_style_sheets(body, style_sheets)
        body = re.sub(r"(<body[^>]*>)", r"\1" + NAVIGATION, body, count=1)
        page = f"{notebook.stem}.html"
        atomic_write_text(report_dir / page, boxed_tables(body))
        entries.append(f'<li><a href="{page}">{html.escape(_notebook_title(notebook))}</a> '
                       f"<small>({html.escape(notebook.name)})</small></li>")
    if style_sheets:
        atomic_write_text(report_dir / STYLE_SHEET, "\n".join([*style_sheets, SITE_CSS]))
    index = PAGE.format(
        title=f"Report: {html.escape(results_dir.name)}",
        findings=boxed_tables(_findings_html(results_dir)),
        environment=environment_html(results_dir / ENVIRONMENT),
        toc="\n".join(entries) or "<li>no executed notebooks yet: run ./run_all.sh</li>",
    )
    return atomic_write_text(report_dir / INDEX, index)


def _exporter():
    """nbconvert's HTML exporter with the lab template seen through :data:`TEMPLATE`."""
    import jinja2
    from nbconvert import HTMLExporter

    return HTMLExporter(template_name="lab", embed_images=True, template_file=TEMPLATE_NAME,
                        extra_loaders=[jinja2.DictLoader({TEMPLATE_NAME: TEMPLATE})])


def boxed_tables(page: str, long_rows: int = LONG_TABLE_ROWS) -> str:
    """``page`` with every ``<table>`` inside a ``div.serlib-table-box`` (it scrolls sideways
    when the table is wider than the page), and those of more than ``long_rows`` body rows
    marked ``serlib-long-table`` (their box has a capped height and scrolls down)."""
    def box(match: re.Match) -> str:
        table = match.group(0)
        body = re.search(r"<tbody\b.*?</tbody>", table, re.DOTALL | re.IGNORECASE)
        rows = len(TABLE_ROW.findall(body.group(0) if body else table)) - (0 if body else 1)
        classes = "serlib-table-box" + (" serlib-long-table" if rows > long_rows else "")
        return f'<div class="{classes}">{table}</div>'
    return TABLE.sub(box, page)


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
    page = markdown.renderer.render(tokens, markdown.options, {})
    summary = page.split(SUMMARY_START, 1)[1] if SUMMARY_START in page else ""
    first = re.search(r'<img src="\.\./([^"]+\.png)"', summary)
    size = _png_size(results_dir / first.group(1)) if first else None
    # a figure of one or two panels sits beside the headline table; a wider one above it
    layout = "summary" if size is None or size[0] <= SIDE_BY_SIDE_PIXELS else "summary stacked"
    return page.replace(SUMMARY_START, f'<section class="{layout}">').replace(SUMMARY_END, "</section>")


def _png_size(path: Path) -> tuple[int, int] | None:
    """Width and height in pixels of a PNG file (from its header), or None."""
    try:
        with open(path, "rb") as handle:
            header = handle.read(24)
    except OSError:
        return None
    if len(header) < 24 or header[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    return int.from_bytes(header[16:20], "big"), int.from_bytes(header[20:24], "big")


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


# --------------------------------------------------------------------------- environment.json

#: What the front page says of ``environment.json`` (written by the study, see
#: ``serlib.study.environment``): (label, where it may be). A dotted entry is a path through
#: the record's mappings; a plain one is a key looked up anywhere in them (breadth first). A
#: label none of whose entries is present is left out, so a record of an older or newer
#: version of the study still reads.
ENVIRONMENT_FIELDS = (
    ("git commit", ("git.commit", "git_commit")),
    ("uncommitted changes", ("git.dirty", "git_dirty")),
    ("CPU", ("cpu.model", "cpu_model", "model_name")),
    ("CPU flags (numerics)", ("cpu.numerics_flags", "numerics_flags", "cpu.flags", "cpu_flags")),
    ("cores", ("cpu.cores", "cores")),
    ("threads", ("torch.num_threads", "num_threads", "threads")),
    ("torch CPU capability", ("torch.cpu_capability", "cpu_capability")),
    ("GPUs", ("torch.gpus", "gpus")),
    ("python", ("python", "python_version")),
    ("torch", ("versions.torch", "torch_version")),
    ("transformers", ("versions.transformers", "transformers_version")),
    ("numpy", ("versions.numpy", "numpy_version")),
    ("scikit-learn", ("versions.scikit-learn", "versions.sklearn", "sklearn_version")),
    ("feature dtype per store", ("feature_stores", "dtype_per_store")),
    ("written", ("written_utc",)),
)
#: CPU flags that change numerical results or speed (SIMD widths, fused multiply-add, matrix units).
NUMERIC_FLAGS = re.compile(r"^(avx\w*|amx\w*|fma\w*|f16c|asimd\w*|neon|sve\w*)$")


def _present(value) -> bool:
    return value is not None and value != "" and value != [] and value != {}


def _lookup(record: dict, entries: tuple[str, ...]):
    """The value of the first of ``entries`` present in ``record`` (see :data:`ENVIRONMENT_FIELDS`)."""
    for entry in entries:
        if "." in entry:
            value = record
            for part in entry.split("."):
                value = value.get(part) if isinstance(value, dict) else None
            if _present(value):
                return value
            continue
        level = [record]
        while level:
            for mapping in level:
                if _present(mapping.get(entry)):
                    return mapping[entry]
            level = [value for mapping in level for value in mapping.values() if isinstance(value, dict)]
    return None


def _environment_value(label: str, value) -> str:
    if label.startswith("CPU flags"):
        if isinstance(value, dict):  # flag -> present
            present = [flag for flag, there in value.items() if there]
            absent = [flag for flag, there in value.items() if not there]
            return " ".join(present) + (f" (without {' '.join(absent)})" if absent else "")
        flags = value.split() if isinstance(value, str) else [str(flag) for flag in value]
        numeric = [flag for flag in flags if NUMERIC_FLAGS.match(flag)]
        return " ".join(numeric) if numeric else f"{len(flags)} flags"
    if label.startswith("feature dtype") and isinstance(value, dict):
        return ", ".join(f"{store}: " + (str(item.get("dtype") or "missing") if isinstance(item, dict) else str(item))
                         for store, item in value.items())
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict):
        return ", ".join(f"{key}: {_environment_value('', item)}" for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(str(item) for item in value)
    return str(value)


def environment_summary(path: Path) -> list[tuple[str, str]]:
    """(label, text) of each :data:`ENVIRONMENT_FIELDS` entry found in ``environment.json``;
    empty when the file is missing or unreadable."""
    try:
        record = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    if not isinstance(record, dict):
        return []
    rows = []
    for label, keys in ENVIRONMENT_FIELDS:
        value = _lookup(record, keys)
        if value is not None:
            rows.append((label, _environment_value(label, value)))
    return rows


def environment_html(path: Path) -> str:
    """The front page's record of where the results were computed (empty without the file)."""
    rows = environment_summary(path)
    if not rows:
        return ""
    items = "\n".join(f"<dt>{html.escape(label)}</dt><dd>{html.escape(text)}</dd>" for label, text in rows)
    return (f'<h2 id="environment">Where these results were computed</h2>\n<dl class="environment">\n{items}\n</dl>\n'
            f'<p><small>From <a href="../{ENVIRONMENT}"><code>{ENVIRONMENT}</code></a>.</small></p>')
