import pytest

fastapi = pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from serve import ServeSettings, create_app  # noqa: E402


def test_service_reports_the_loaded_model(tiny_trained):
    app = create_app(ServeSettings(model_dir=tiny_trained["result"].model_dir))
    with TestClient(app) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        assert client.get("/readyz").json() == {"status": "ready"}
        body = client.get("/v1/model").json()
    assert body["kind"] == "tfidf-logreg"
    assert body["model_version"].startswith("tiny-baseline-")
    assert [t["key"] for t in body["label_schema"]["themes"]][0] == "waiting"
    assert 0 < body["metrics"]["airline_accuracy"] <= 1


def test_service_without_a_model_is_alive_but_not_ready(tmp_path):
    with TestClient(create_app(ServeSettings(model_dir=tmp_path / "none"))) as client:
        assert client.get("/healthz").status_code == 200
        response = client.get("/readyz")
    assert response.status_code == 503
    assert "not a model folder" in response.json()["detail"]


def test_settings_reject_bad_ports(monkeypatch):
    monkeypatch.setenv("RADAR_PORT", "eighty")
    with pytest.raises(ValueError, match="RADAR_PORT"):
        ServeSettings.from_env()
    with pytest.raises(ValueError, match="port must be"):
        ServeSettings(port=70000)
