"""Baseline train + evaluate on a small subset, tracked in a temporary MLflow store."""

import dataclasses
import json
import shutil

import mlflow
import pytest

from nlp.classifier import ModelLoadError, load_classifier, read_model_meta
from nlp.taxonomy import SENTIMENTS
from training.train import ensure_baseline


def test_tiny_run_is_tracked_with_params_metrics_and_model(tiny_trained):
    result, config = tiny_trained["result"], tiny_trained["config"]
    client = mlflow.MlflowClient(tracking_uri=tiny_trained["tracking_uri"])
    run = client.get_run(result.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["cv_folds"] == "3"
    assert run.data.params["complaints_rows"] == "400"
    assert "data.complaints-2019.sha256" in run.data.tags
    for key in ("complaints_macro_f1_mean", "complaints_macro_f1_std",
                "complaints_accuracy_mean", "airline_accuracy", "airline_macro_f1"):
        assert 0.0 <= run.data.metrics[key] <= 1.0
    folds = client.get_metric_history(result.run_id, "complaints_fold_macro_f1")
    assert sorted(m.step for m in folds) == [0, 1, 2]
    artifacts = {a.path for a in client.list_artifacts(result.run_id, "model")}
    assert {"model/meta.json", "model/schema.json", "model/heads.joblib"} <= artifacts
    assert config.experiment == client.get_experiment(run.info.experiment_id).name


def test_tiny_model_learns_something(tiny_trained):
    metrics = tiny_trained["result"].metrics
    # 400 rows per dataset: far from the full baseline, but clearly above chance
    # (majority-class macro-F1 is ~0.41 for complaints and ~0.26 for sentiment).
    assert metrics["complaints_macro_f1_mean"] > 0.55
    assert metrics["airline_macro_f1"] > 0.40


def test_saved_model_loads_and_predicts(tiny_trained):
    model = load_classifier(tiny_trained["result"].model_dir)
    predictions = model.predict(["@united lost my bag again, 3 hours on hold", "thank you!"],
                                keys=[("t", "1"), ("t", "2")])
    assert [p.post_id for p in predictions] == ["1", "2"]
    for p in predictions:
        assert sum(p.sentiment_probs.values()) == pytest.approx(1.0, abs=1e-6)
        assert p.sentiment in SENTIMENTS and 0.0 <= p.complaint <= 1.0
        assert p.churn_intent is None
        assert p.model_version == model.model_version
    meta, _ = read_model_meta(tiny_trained["result"].model_dir)
    assert meta["run_id"] == tiny_trained["result"].run_id


def test_ensure_baseline_reuses_a_matching_model_and_retrains_a_changed_one(tiny_trained,
                                                                           tmp_path):
    copy = tmp_path / "model"
    shutil.copytree(tiny_trained["result"].model_dir, copy)
    same = dataclasses.replace(tiny_trained["config"], model_dir=str(copy))
    again = ensure_baseline(same, tiny_trained["tracking_uri"])
    assert again.reused and again.run_id == tiny_trained["result"].run_id

    retrained = ensure_baseline(dataclasses.replace(same, C=1.0), tiny_trained["tracking_uri"])
    assert not retrained.reused and retrained.run_id != tiny_trained["result"].run_id
    assert read_model_meta(copy)[0]["config"]["C"] == 1.0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # no temp folders left


def test_model_with_another_label_schema_is_refused(tiny_trained, tmp_path):
    copy = tmp_path / "model"
    shutil.copytree(tiny_trained["result"].model_dir, copy)
    schema = json.loads((copy / "schema.json").read_text())
    schema["themes"] = schema["themes"][:3]
    (copy / "schema.json").write_text(json.dumps(schema))
    with pytest.raises(ValueError, match="label schema does not match"):
        load_classifier(copy)
    with pytest.raises(ModelLoadError, match="not a model folder"):
        load_classifier(tmp_path / "missing")
