"""Which model the REST endpoint serves when none is named, and what runs it.

The newcomer's path (issue 17): after ``make demo`` a champion is registered in the MLflow
store and ``radar serve``, with no ``--model``, serves it. Without a champion the newest
model folder in ``models/`` is served; with neither, start-up fails with a message that
says how to get a model. ``--backend onnx`` runs a fine-tuned model on ONNX Runtime.

The champion is the tiny transformer (``tiny_transformer`` in conftest), registered in a
private copy of its MLflow store; each test runs in an empty working directory, as a fresh
clone would (no ``models/``, no ``mlflow.db``).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")
from fastapi.testclient import TestClient  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from nlp.classifier import (  # noqa: E402
    CHAMPION_URI,
    REGISTERED_MODEL,
    ModelLoadError,
    load_classifier,
    read_model_meta,
)
from nlp.classifier.folder import ONNX_INT8  # noqa: E402
from nlp.classifier.loading import choose_default_model  # noqa: E402
from radar.cli import app as cli  # noqa: E402
from serve import ServeSettings, create_app  # noqa: E402
from tests.conftest import REPO, copy_sqlite, copy_tracking_store  # noqa: E402

POSTS = {"posts": [{"text": "@united 3 hours on hold, I am switching to Delta", "id": "a"},
                   {"text": "thanks @JetBlue, lovely crew", "id": "b"}]}
HOW_TO_GET_ONE = ("make demo", "radar train --config training/configs/minilm.yaml",
                  "radar models export models/NAME", "--model / RADAR_MODEL_DIR")


def _flat(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture
def fresh_clone(tmp_path, monkeypatch) -> Path:
    """An empty working directory and the default tracking store (sqlite:///mlflow.db)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("RADAR_MODEL_DIR", raising=False)
    monkeypatch.delenv("RADAR_BACKEND", raising=False)
    return tmp_path


@pytest.fixture(scope="module")
def champion(tiny_transformer, tmp_path_factory) -> dict:
    """A store whose champion is the tiny transformer: its tracking URI and model version."""
    uri = copy_tracking_store(tiny_transformer, tmp_path_factory.mktemp("champion-store"))
    meta, _ = read_model_meta(tiny_transformer["result"].model_dir)
    return {"tracking_uri": uri, "model_version": meta["model_version"]}


def _model_folder(path: Path, mtime: float, schema: bool = True) -> Path:
    """A folder that looks like a model folder to the resolution (it is never loaded)."""
    path.mkdir(parents=True)
    (path / "meta.json").write_text(json.dumps({"kind": "tfidf-logreg"}), encoding="utf-8")
    if schema:
        (path / "schema.json").write_text("{}", encoding="utf-8")
    os.utime(path / "meta.json", (mtime, mtime))
    return path


# --- the rule ----------------------------------------------------------------------------


def test_with_no_champion_and_no_folder_the_message_says_how_to_get_a_model(fresh_clone):
    with pytest.raises(ModelLoadError) as caught:
        choose_default_model()
    message = str(caught.value)
    assert message.startswith("no model to serve: no champion registered in the MLflow store "
                              "sqlite:///mlflow.db and no model folder")
    for hint in HOW_TO_GET_ONE:
        assert hint in message
    assert not (fresh_clone / "mlflow.db").exists()  # looking did not create a store


def test_without_a_champion_the_newest_complete_model_folder_is_chosen(fresh_clone):
    models = fresh_clone / "models"
    _model_folder(models / "older", mtime=1_000)
    _model_folder(models / "newest", mtime=3_000)
    _model_folder(models / "incomplete", mtime=5_000, schema=False)  # no schema.json
    (models / "notes").mkdir()

    choice = choose_default_model()

    assert choice.model == str(Path("models") / "newest")
    assert choice.reason == ("no champion registered in the MLflow store sqlite:///mlflow.db; "
                             "the newest of 2 model folder(s) in models/")


def test_a_registered_champion_is_chosen_over_any_folder(fresh_clone, champion, monkeypatch):
    _model_folder(fresh_clone / "models" / "newer-than-the-champion", mtime=time.time())
    monkeypatch.setenv("MLFLOW_TRACKING_URI", champion["tracking_uri"])

    choice = choose_default_model()

    assert choice.model == CHAMPION_URI
    assert choice.reason == ("the champion (version 1) registered in the MLflow store "
                             f"{champion['tracking_uri']}")


def test_a_registered_model_without_the_champion_alias_is_not_chosen(fresh_clone, champion,
                                                                     tmp_path):
    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp_path / 'no-champion.db'}"
    copy_sqlite(Path(champion["tracking_uri"].removeprefix("sqlite:///")),
                tmp_path / "no-champion.db")
    MlflowClient(tracking_uri=uri).delete_registered_model_alias(REGISTERED_MODEL, "champion")

    with pytest.raises(ModelLoadError, match="^no model to serve: no champion registered"):
        choose_default_model(uri)


def test_a_store_that_cannot_be_read_is_an_error_not_a_silent_fallback(fresh_clone):
    (fresh_clone / "mlflow.db").write_text("not a database " * 20, encoding="utf-8")
    _model_folder(fresh_clone / "models" / "some-model", mtime=1_000)

    with pytest.raises(ModelLoadError, match=r"^cannot read the MLflow store "
                                             r"sqlite:///mlflow.db: .*not a database"):
        choose_default_model()


# --- the app and the command -------------------------------------------------------------


def test_the_app_does_not_start_without_a_model_to_serve(fresh_clone):
    with pytest.raises(ModelLoadError, match="^no model to serve"), \
            TestClient(create_app(ServeSettings.from_env())):
        pass


def test_radar_serve_without_a_model_exits_with_the_message(fresh_clone):
    result = CliRunner().invoke(cli, ["serve"], env={"COLUMNS": "300"})

    assert result.exit_code == 1
    out = _flat(result.output)
    assert out.startswith("error: no model to serve: no champion registered")
    for hint in HOW_TO_GET_ONE:
        assert hint in out


def test_radar_serve_refuses_an_unknown_backend(fresh_clone):
    result = CliRunner().invoke(cli, ["serve", "--backend", "tensorrt"], env={"COLUMNS": "300"})

    assert result.exit_code == 1
    assert _flat(result.output) == "error: backend must be one of torch, onnx, got 'tensorrt'"


def test_without_a_champion_the_app_serves_the_newest_model_folder(fresh_clone, tiny_trained):
    source = tiny_trained["result"].model_dir
    shutil.copytree(source, fresh_clone / "models" / "baseline")

    with TestClient(create_app(ServeSettings.from_env())) as client:
        ready = client.get("/readyz")
        model = client.get("/v1/model").json()

    assert ready.json() == {"status": "ready"}
    assert model["model_version"] == read_model_meta(source)[0]["model_version"]
    assert (model["kind"], model["backend"]) == ("tfidf-logreg", "torch")


def test_a_newcomer_gets_predictions_from_the_registered_champion(fresh_clone, champion,
                                                                  monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", champion["tracking_uri"])

    with TestClient(create_app(ServeSettings.from_env())) as client:
        ready = client.get("/readyz")
        model = client.get("/v1/model").json()
        response = client.post("/v1/classify", json=POSTS)

    assert ready.json() == {"status": "ready"}
    assert (model["kind"], model["backend"]) == ("multitask-transformer", "torch")
    assert model["model_version"] == champion["model_version"]
    assert response.status_code == 200
    body = response.json()
    assert body["model_version"] == champion["model_version"]
    assert [p["id"] for p in body["predictions"]] == ["a", "b"]
    for prediction in body["predictions"]:
        assert prediction["p_churn_intent"] is not None  # the fine-tuned model's head
        total = prediction["p_negative"] + prediction["p_neutral"] + prediction["p_positive"]
        assert total == pytest.approx(1.0, abs=1e-4)


def test_the_onnx_backend_serves_the_champion_on_onnx_runtime(fresh_clone, champion,
                                                              monkeypatch):
    pytest.importorskip("onnxruntime")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", champion["tracking_uri"])
    monkeypatch.setenv("RADAR_BACKEND", "onnx")

    app = create_app(ServeSettings.from_env())
    with TestClient(app) as client:
        model = client.get("/v1/model").json()
        response = client.post("/v1/classify", json=POSTS)
        runs_on = app.state.classifier.backend

    assert (model["backend"], runs_on) == ("onnx", "onnx")
    assert model["model_version"] == champion["model_version"]
    assert response.status_code == 200
    assert len(response.json()["predictions"]) == 2


def test_a_registered_models_onnx_export_is_cached_between_starts(champion, tmp_path,
                                                                   monkeypatch):
    """A models:/ URI is downloaded to a temporary folder on each load; its int8 export is
    kept in the cache, so the second start exports nothing and predicts the same."""
    pytest.importorskip("onnxruntime")
    from nlp.classifier import onnx

    monkeypatch.setenv("RADAR_ONNX_CACHE", str(tmp_path / "cache"))
    exports = []
    real_export = onnx.export_onnx
    monkeypatch.setattr(onnx, "export_onnx", lambda *a, **k: exports.append(1) or
                        real_export(*a, **k))
    uri = CHAMPION_URI
    first = load_classifier(uri, champion["tracking_uri"], backend="onnx")
    cached = list((tmp_path / "cache").glob(f"*/{ONNX_INT8}"))
    assert len(exports) == 1 and len(cached) == 1
    second = load_classifier(uri, champion["tracking_uri"], backend="onnx")
    assert len(exports) == 1  # reused, not exported again
    texts = ["on hold for two hours, cancelling", "thanks, all sorted"]
    assert second.predict_proba(texts)["complaint"].tolist() == \
        first.predict_proba(texts)["complaint"].tolist()
    assert not [p for p in (tmp_path / "cache").iterdir() if p.name.startswith(".")]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_radar_serve_as_the_readme_shows_serves_the_champion(fresh_clone, champion):
    """The command itself, in a process of its own: no --model, the store from the
    environment, ready within the start-up time, predictions over HTTP."""
    port = _free_port()
    env = {**os.environ, "MLFLOW_TRACKING_URI": champion["tracking_uri"],
           "PYTHONPATH": str(REPO), "COLUMNS": "300"}
    for name in ("RADAR_MODEL_DIR", "RADAR_BACKEND", "RADAR_API_KEY"):
        env.pop(name, None)
    log_path = fresh_clone / "serve.log"
    with log_path.open("w") as log:
        server = subprocess.Popen([sys.executable, "-m", "radar.cli", "serve", "--port",
                                   str(port)], cwd=fresh_clone, env=env, stdout=log,
                                  stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        ready = None
        while time.monotonic() < deadline and server.poll() is None:
            try:
                ready = httpx.get(f"{base}/readyz", timeout=5)
                break
            except httpx.TransportError:
                time.sleep(0.5)
        assert ready is not None, f"radar serve did not answer:\n{log_path.read_text()}"
        response = httpx.post(f"{base}/v1/classify", json=POSTS, timeout=60)
    finally:
        server.terminate()
        server.wait(timeout=30)

    assert ready.json() == {"status": "ready"}
    assert response.status_code == 200
    assert response.json()["model_version"] == champion["model_version"]
    log = _flat(log_path.read_text())
    assert (f"model: {CHAMPION_URI} (the champion (version 1) registered in the MLflow store "
            f"{champion['tracking_uri']}), backend torch") in log
