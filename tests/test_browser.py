"""The report as a reader sees it: an executed notebook opened in JupyterLab in headless Chromium.

Starts ``jupyter lab`` on a free local port with a token (its own config, data, runtime and
workspace folders in the test's tmp folder), opens an executed notebook with at least one
figure, and asserts through the Chrome DevTools protocol that JupyterLab rendered the
notebook's cells and an ``img`` in an output area; saves a screenshot in the tmp folder; stops
the server and the browser by their own process ids.

Which notebook: the first of ``results/demo/notebooks/`` whose saved outputs hold a PNG figure
(the committed report, once it embeds figures); when none does, a two-cell notebook that draws
a matplotlib figure, executed in the tmp folder.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import nbformat
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
DEMO_NOTEBOOKS = REPO_ROOT / "results" / "demo" / "notebooks"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--window-size=1280,1600")
TIMEOUT_S = 40


def _chromium() -> Path:
    if CHROMIUM.is_file():
        return CHROMIUM
    if shutil.which("apt-get") is None:
        pytest.skip(f"{CHROMIUM} is missing and apt-get is unavailable; install the Debian "
                    "package 'chromium' (or run .ci/run, which installs it)")
    pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (.ci/run does this)")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _has_png(notebook: Path) -> bool:
    cells = nbformat.read(notebook, as_version=4).cells
    return any("image/png" in output.get("data", {})
               for cell in cells if cell.cell_type == "code" for output in cell.outputs)


def _notebook_with_figure(tmp_path: Path) -> tuple[Path, Path]:
    """(root folder to serve, notebook in it): the committed demo report if it has figures."""
    for notebook in sorted(DEMO_NOTEBOOKS.glob("*.ipynb")):
        if _has_png(notebook):
            return DEMO_NOTEBOOKS.parent, notebook
    from nbclient import NotebookClient

    root = tmp_path / "report"
    root.mkdir()
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# A figure"),
        nbformat.v4.new_code_cell("import matplotlib\nmatplotlib.use('agg')\nimport matplotlib.pyplot as plt\n"
                                  "%matplotlib inline\nplt.plot([0, 1, 4, 9]);\nplt.show()"),
    ], metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    NotebookClient(notebook, timeout=60, kernel_name="python3").execute()
    path = root / "figure.ipynb"
    nbformat.write(notebook, path)
    assert _has_png(path)
    return root, path


class DevTools:
    """A minimal Chrome DevTools protocol client over one page's websocket."""

    def __init__(self, websocket_url: str):
        import websocket

        self.socket = websocket.create_connection(websocket_url, timeout=TIMEOUT_S)
        self.next_id = 0

    def call(self, method: str, **params):
        self.next_id += 1
        self.socket.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv())
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]

    def evaluate(self, expression: str):
        return self.call("Runtime.evaluate", expression=expression, returnByValue=True)["result"].get("value")


def _wait_for(condition, what: str, timeout_s: float = TIMEOUT_S):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.25)
    pytest.fail(f"timed out after {timeout_s} s waiting for {what}")


def _get_json(url: str):
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return json.load(response)
    except (urllib.error.URLError, ConnectionError, json.JSONDecodeError):
        return None


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_jupyterlab_renders_an_executed_notebook_with_its_figure(tmp_path):
    chromium = _chromium()
    root, notebook = _notebook_with_figure(tmp_path)
    expected_cells = len(nbformat.read(notebook, as_version=4).cells)
    token, lab_port, devtools_port = secrets.token_hex(16), _free_port(), _free_port()
    jupyter_home = tmp_path / "jupyter"
    environment = {**os.environ,
                   "JUPYTER_CONFIG_DIR": str(jupyter_home / "config"),
                   "JUPYTER_RUNTIME_DIR": str(jupyter_home / "runtime"),
                   "JUPYTERLAB_SETTINGS_DIR": str(jupyter_home / "settings"),
                   "JUPYTERLAB_WORKSPACES_DIR": str(jupyter_home / "workspaces")}
    lab = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={lab_port}", "--ip=127.0.0.1",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
         "--ServerApp.port_retries=0", "--allow-root", "--LabApp.news_url=", "--LabApp.check_for_updates_class="
         "jupyterlab.NeverCheckForUpdate"],
        env=environment, stdout=subprocess.DEVNULL, stderr=open(tmp_path / "lab.log", "w"),
    )
    browser = None
    try:
        base = f"http://127.0.0.1:{lab_port}"
        _wait_for(lambda: lab.poll() is not None or _get_json(f"{base}/api/status?token={token}"),
                  "JupyterLab to answer")
        assert lab.poll() is None, (tmp_path / "lab.log").read_text()
        relative = notebook.relative_to(root).as_posix()
        browser = subprocess.Popen(
            [str(chromium), *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'chromium'}",
             f"--remote-debugging-port={devtools_port}", f"{base}/lab/tree/{relative}?token={token}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        pages = _wait_for(lambda: [t for t in _get_json(f"http://127.0.0.1:{devtools_port}/json") or []
                                   if t.get("type") == "page"], "Chromium's DevTools endpoint")
        page = DevTools(pages[0]["webSocketDebuggerUrl"])
        cells = _wait_for(
            lambda: page.evaluate(
                "document.querySelectorAll('.jp-NotebookPanel .jp-Cell').length >= "
                f"{expected_cells} && document.querySelectorAll('.jp-OutputArea-output img').length "
                "&& document.querySelectorAll('.jp-NotebookPanel .jp-Cell').length"),
            f"{notebook.name}'s {expected_cells} cells and a figure in JupyterLab")
        assert cells == expected_cells
        image = page.evaluate("(() => { const i = document.querySelector('.jp-OutputArea-output img');"
                              " return [i.naturalWidth, i.src.slice(0, 22)]; })()")
        assert image[0] > 100 and image[1] == "data:image/png;base64,"
        screenshot = tmp_path / "jupyterlab.png"
        screenshot.write_bytes(base64.b64decode(page.call("Page.captureScreenshot")["data"]))
        assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and screenshot.stat().st_size > 10_000
    finally:
        if browser is not None:
            _stop(browser)
        _stop(lab)
    assert lab.returncode is not None


REPORT_WINDOW = "--window-size=1400,1000"
FIRST_NOTEBOOK_LINK = ("[...document.querySelectorAll('a[href]')].find(a => /^\\d\\d_[^/]*\\.html(#.*)?$/"
                       ".test(a.getAttribute('href')))")


def _open(page: DevTools, url: str) -> None:
    page.call("Page.navigate", url=url)
    _wait_for(lambda: page.evaluate(
        f"location.href === {json.dumps(url)} && document.readyState === 'complete' && "
        "[...document.images].every(image => image.complete)"), f"{url} to load")


def test_report_pages_lead_with_a_figure_fit_the_window_and_fold_their_code(tmp_path):
    """The static report in headless Chromium at 1400 px: the front page shows a figure and a
    table before its first link to a notebook page; no page scrolls sideways as a whole (a wide
    table scrolls inside its own box); every code cell is folded until opened."""
    from test_report_site import executed_notebook, toy_study, wide_and_long_notebook

    from serlib.report.site import build_report_site

    chromium = _chromium()
    config = toy_study(tmp_path)
    wide_and_long_notebook(config.results_dir / "notebooks" / "01_tables.ipynb")
    executed_notebook(config.results_dir / "notebooks" / "02_curves.ipynb")
    index = build_report_site(config.results_dir)
    pages = [index, *sorted(index.parent.glob("0*.html"))]
    devtools_port = _free_port()
    browser = subprocess.Popen(
        [str(chromium), *(flag for flag in CHROMIUM_FLAGS if not flag.startswith("--window-size")),
         REPORT_WINDOW, f"--user-data-dir={tmp_path / 'chromium'}", f"--remote-debugging-port={devtools_port}",
         "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        targets = _wait_for(lambda: [t for t in _get_json(f"http://127.0.0.1:{devtools_port}/json") or []
                                     if t.get("type") == "page"], "Chromium's DevTools endpoint")
        page = DevTools(targets[0]["webSocketDebuggerUrl"])
        page.call("Page.enable")
        _open(page, index.as_uri())
        order = page.evaluate(
            "(() => { const link = " + FIRST_NOTEBOOK_LINK + ";"
            " const image = [...document.images].find(i => i.naturalWidth > 100);"
            " const table = document.querySelector('table');"
            " const before = (node) => !!node"
            " && !!(link.compareDocumentPosition(node) & Node.DOCUMENT_POSITION_PRECEDING);"
            " return {link: !!link, image: before(image), table: before(table)}; })()")
        assert order == {"link": True, "image": True, "table": True}
        (tmp_path / "index.png").write_bytes(base64.b64decode(page.call("Page.captureScreenshot")["data"]))
        for path in pages:
            _open(page, path.as_uri())
            width = page.evaluate("[document.scrollingElement.scrollWidth, document.scrollingElement.clientWidth]")
            assert width[0] <= width[1], f"{path.name} scrolls sideways: {width}"
            assert width[1] >= 1300  # the window really is 1400 px wide
        _open(page, (index.parent / "01_tables.html").as_uri())
        folded = page.evaluate(
            "(() => { const cells = [...document.querySelectorAll('.jp-CodeCell')];"
            " return cells.map(cell => { const d = cell.querySelector('details.serlib-code');"
            " const code = cell.querySelector('.jp-InputArea-editor');"
            " return [!!d && !d.open, !!code && !code.checkVisibility() && d.getBoundingClientRect().height < 40]; });"
            " })()")
        assert len(folded) == 4 and all(closed and hidden for closed, hidden in folded), folded
        boxes = page.evaluate("[...document.querySelectorAll('.serlib-table-box')]"
                              ".map(box => [box.scrollWidth > box.clientWidth, box.scrollHeight > box.clientHeight])")
        assert boxes[0] == [True, False]  # the wide table scrolls sideways inside its box
        assert boxes[1][1] is True  # the long table shown whole scrolls down inside its capped box
        opened = page.evaluate("(() => { const d = document.querySelector('details.serlib-code'); d.open = true;"
                               " return d.querySelector('.jp-InputArea-editor').checkVisibility(); })()")
        assert opened is True  # a click (here: open) shows the code
        (tmp_path / "notebook.png").write_bytes(base64.b64decode(page.call("Page.captureScreenshot")["data"]))
    finally:
        _stop(browser)
