"""Loading by folder or MLflow URI, without a trained model (the kinds have their own tests)."""

import sys

import pytest

from nlp.classifier import CHAMPION_URI, ModelLoadError, load_classifier
from nlp.classifier.loading import is_mlflow_uri, local_model_dir
from nlp.errors import NotInstalled


@pytest.mark.parametrize("uri, expected", [
    (CHAMPION_URI, True), ("models:/complaint-radar/3", True), ("runs:/abc/model", True),
    ("models/minilm", False), ("/tmp/models:/x", False),
])
def test_mlflow_uris_are_told_from_folders(uri, expected):
    assert is_mlflow_uri(uri) is expected


def test_a_folder_is_used_where_it_is(tmp_path):
    with local_model_dir(tmp_path) as model_dir:
        assert model_dir == tmp_path
    assert tmp_path.is_dir()  # nothing is removed after a folder, only after a download


def test_an_unknown_backend_is_refused_before_anything_is_read(tmp_path):
    with pytest.raises(ModelLoadError, match="backend must be one of"):
        load_classifier(tmp_path / "absent", backend="tensorrt")


def test_without_mlflow_a_registry_uri_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "mlflow", None)  # import fails as if not installed
    with pytest.raises(NotInstalled, match=r"loading models:/complaint-radar@champion needs "
                                           r"mlflow, a core dependency: pip install -e \.$"):
        load_classifier(CHAMPION_URI)
    with pytest.raises(ImportError):  # what callers that catch ImportError see
        load_classifier(CHAMPION_URI)
