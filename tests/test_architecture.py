"""The package's shape: the layer contract, light command-line start-up, old names still work."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import write_wav

REPO_ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "transformers")


def test_import_contracts_hold():
    """`lint-imports` (import-linter, contracts in pyproject.toml): layers, no cycles, no argparse below cli."""
    lint_imports = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert lint_imports, "import-linter is part of the test extra: pip install -e '.[test]'"
    result = subprocess.run([lint_imports], cwd=REPO_ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def _modules_loaded_by(argv: list[str]) -> dict:
    """Run ``serlib ARGV`` in a fresh interpreter; which heavy libraries did it import, and its exit code."""
    script = (
        "import json, sys\n"
        "from serlib.cli import main\n"
        "try:\n"
        f"    code = main({argv!r})\n"
        "except SystemExit as exit:\n"
        "    code = exit.code\n"
        f"print(json.dumps({{'code': code, 'heavy': [m for m in {HEAVY!r} if m in sys.modules]}}))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO_ROOT)
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("command", [["--help"], ["extract", "--help"], ["probe", "--help"]])
def test_help_loads_no_deep_learning_library(command):
    loaded = _modules_loaded_by(command)
    assert loaded == {"code": 0, "heavy": []}


def test_manifest_command_loads_no_deep_learning_library(tmp_path):
    for name in ("03a01Fa", "03a02Wa"):
        write_wav(tmp_path / "emodb" / "wav" / f"{name}.wav")
    loaded = _modules_loaded_by(["manifest", "emodb", str(tmp_path / "emodb"), "-o", str(tmp_path / "m.csv")])
    assert loaded == {"code": 0, "heavy": []}
    assert (tmp_path / "m.csv").read_text().count("\n") == 3


@pytest.mark.parametrize("script", sorted((REPO_ROOT / "benchmarks").glob("*.py")), ids=lambda path: path.name)
def test_benchmark_scripts_import_names_that_exist(script):
    """The benchmarks are not run by the tests; at least every serlib name they import must exist."""
    import ast
    import importlib
    import importlib.util

    for node in ast.walk(ast.parse(script.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("serlib"):
            module = importlib.import_module(node.module)
            missing = [alias.name for alias in node.names if not hasattr(module, alias.name)
                       and importlib.util.find_spec(f"{node.module}.{alias.name}") is None]  # a subpackage
            assert missing == [], f"{script.name}: {node.module} has no {missing}"
