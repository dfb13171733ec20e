"""The notebooks as committed: thin, without outputs, with papermill parameters that parse."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from papermill.translators import PythonTranslator

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def test_notebooks_are_numbered_from_01_without_gaps():
    numbers = [int(path.name[:2]) for path in NOTEBOOKS]
    assert numbers == list(range(1, len(numbers) + 1)) and len(numbers) >= 6


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_notebook_is_stored_without_outputs_and_has_a_parsable_parameters_cell(path, caplog):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(not cell.outputs and cell.execution_count is None for cell in code_cells)
    tagged = [cell for cell in code_cells if "parameters" in cell.metadata.get("tags", [])]
    assert len(tagged) == 1
    names = [parameter.name for parameter in PythonTranslator.inspect(tagged[0])]
    assert names[0] == "profile"
    # every assignment line of the cell is understood by papermill (it warns on the others)
    assignments = [line for line in tagged[0].source.splitlines() if "=" in line.split("#")[0]]
    assert len(names) == len(assignments), caplog.text
