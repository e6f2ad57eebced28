"""The notebooks execute top to bottom on a real scored dump, so they cannot rot."""

from __future__ import annotations

import pytest

from tests.conftest import REPO

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")


@pytest.fixture(scope="module")
def scored_airline(tiny_trained, tmp_path_factory):
    """The airline tweets scored by the tiny baseline, as `radar score` writes them."""
    from nlp.batch import score_dump
    from nlp.classifier import load_classifier
    from radar.demo import write_airline_dump

    root = tmp_path_factory.mktemp("scored")
    dump = root / "airline.jsonl"
    write_airline_dump(dump)
    classifier = load_classifier(tiny_trained["result"].model_dir)
    result = score_dump(dump, root / "airline.scored.parquet", classifier)
    assert result.rows_scored == result.rows_in
    return result.out_path


def test_brand_risk_notebook_executes(scored_airline, monkeypatch):
    monkeypatch.setenv("RADAR_SCORED", str(scored_airline))
    path = REPO / "notebooks" / "01-brand-risk.ipynb"
    notebook = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(path.parent)}})
    client.execute()  # raises CellExecutionError, with the cell and traceback, on any error

    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    printed = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert str(scored_airline) in printed  # it read the file we gave it, not the demo's
    assert printed.rstrip().endswith("ok")  # the checks cell ran to the end
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) == 3  # risk per brand, drivers, over time


@pytest.mark.parametrize("path", sorted((REPO / "notebooks").glob("*.ipynb")),
                         ids=lambda p: p.name)
def test_notebooks_are_committed_without_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    stale = [i for i, cell in enumerate(notebook.cells)
             if cell.cell_type == "code" and (cell.outputs or cell.execution_count)]
    assert not stale, f"{path.name}: clear the outputs of cells {stale} (see DEVELOPERS.md)"
