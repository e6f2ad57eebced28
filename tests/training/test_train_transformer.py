"""The tiny multi-task fine-tune, run once: MLflow run, registry, the three ways to load it.

``training/configs/tiny.yaml`` (a random tiny BERT, 300 posts, 2 epochs) is trained once
per module into a temporary model folder, corpus folder and SQLite MLflow store.
Tests that move the ``champion`` alias do so in a copy of that store.
"""

import dataclasses
import json
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from nlp.classifier import ComplaintClassifier, load_classifier, read_model_meta
from nlp.classifier.contract import COLUMNS, thresholds_for
from nlp.taxonomy import SCHEMA
from tests.conftest import copy_sqlite, copy_tracking_store
from training import datasets as registry
from training.tracking import list_model_versions, register_model
from training.train_transformer import (
    ensure_transformer,
    folder_sha256,
    heldout_lines,
    training_rows,
)

REPO = Path(__file__).resolve().parents[2]
NAME = "complaint-radar"
TEXTS = ["@united lost my bag again, 3 hours on hold and nobody calls back",
         "thank you, the new app is great", "I'm switching to another bank, done with you",
         "", "ok"]


@pytest.fixture(scope="module")
def trained(tiny_transformer, tmp_path_factory):
    """The session's tiny.yaml run, with a private copy of its MLflow store."""
    root = tmp_path_factory.mktemp("tiny-transformer-store")
    uri = copy_tracking_store(tiny_transformer, root)
    return {**tiny_transformer, "tracking_uri": uri, "root": root,
            "client": mlflow.MlflowClient(tracking_uri=uri)}


@pytest.fixture(scope="module")
def store_copy(trained, tmp_path_factory):
    """A copy of the trained store (same artifacts) where two more versions are registered:
    v2 with a lower score than v1 and v3 with a higher one."""
    root = tmp_path_factory.mktemp("store-copy")
    copy_sqlite(trained["root"] / "mlflow.db", root / "mlflow.db")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    client = mlflow.MlflowClient(tracking_uri=uri)
    source = client.get_model_version(NAME, "1").source
    run_id, score = trained["result"].run_id, trained["result"].metrics["dev_score"]
    lower = register_model(source, run_id, score - 0.05, uri)
    alias_after_lower = str(client.get_model_version_by_alias(NAME, "champion").version)
    higher = register_model(source, run_id, score + 0.05, uri)
    return {"tracking_uri": uri, "client": client, "lower": lower, "higher": higher,
            "alias_after_lower": alias_after_lower}


def test_the_run_is_finished_with_params_tags_and_final_metrics(trained):
    result, client = trained["result"], trained["client"]
    run = client.get_run(result.run_id)
    assert run.info.status == "FINISHED"
    assert client.get_experiment(run.info.experiment_id).name == trained["config"].experiment
    params = run.data.params
    assert params["kind"] == "multitask-transformer"
    assert params["max_train_rows"] == "300" and params["train_rows"] == "300"
    assert params["epochs"] == "2" and params["max_length"] == "32"
    assert "'hidden_size': 32" in params["encoder_config"]
    assert int(params["dev_rows"]) > 0 and int(params["test_rows"]) > 0
    assert int(params["airline_test_texts_dropped"]) > 0
    tags = run.data.tags
    assert tags["corpus.sha256"] == folder_sha256(Path(trained["config"].corpus_dir))
    assert tags["config_fingerprint"] == trained["config"].fingerprint()
    for name, dataset in registry.REGISTRY.items():
        assert tags[f"data.{name}.sha256"] == dataset.sha256
    assert {"lib.torch", "lib.transformers", "lib.mlflow", "lib.python"} <= set(tags)
    metrics = run.data.metrics
    assert metrics["dev_score"] == pytest.approx(result.metrics["dev_score"])
    assert 0.0 <= metrics["dev_score"] <= 1.0
    for split in ("dev", "test"):
        for label in ("complaint", "churn_intent", *SCHEMA.theme_keys):
            for name in ("precision", "recall", "f1"):
                assert 0.0 <= metrics[f"{split}_{label}_{name}"] <= 1.0, (split, label, name)
        assert 0.0 <= metrics[f"{split}_sentiment_macro_f1"] <= 1.0
        assert 0.0 <= metrics[f"{split}_themes_macro_f1"] <= 1.0
    assert metrics["epochs_run"] == 2 and metrics["best_epoch"] in (1, 2)
    assert metrics["run_seconds"] >= metrics["train_seconds"] > 0


def test_each_epoch_is_logged_and_the_best_one_is_kept(trained):
    client, run_id = trained["client"], trained["result"].run_id
    for key in ("train_loss_total", "train_loss_sentiment", "train_loss_themes",
                "epoch_dev_dev_score", "epoch_seconds"):
        history = client.get_metric_history(run_id, key)
        assert sorted(m.step for m in history) == [1, 2], key
    losses = client.get_metric_history(run_id, "train_loss_total")
    assert all(np.isfinite(m.value) and m.value > 0 for m in losses)
    dev = {m.step: m.value for m in client.get_metric_history(run_id, "epoch_dev_dev_score")}
    metrics = client.get_run(run_id).data.metrics
    assert metrics["dev_score"] == pytest.approx(max(dev.values()))
    assert dev[int(metrics["best_epoch"])] == pytest.approx(max(dev.values()))


def test_the_run_holds_metrics_json_figures_and_the_pyfunc_model(trained, tmp_path):
    client, run_id = trained["client"], trained["result"].run_id
    # MLflow resolves a run's logged model ("model/...") through the global tracking URI,
    # not the client's: point it at this store, whatever an earlier test left there.
    mlflow.set_tracking_uri(trained["tracking_uri"])
    figures = {a.path for a in client.list_artifacts(run_id, "figures")}
    assert figures == {f"figures/{s}_{k}.png" for s in ("dev", "test", "ood_test")
                       for k in ("confusion", "pr_curves")}
    for path in figures:
        local = Path(client.download_artifacts(run_id, path, str(tmp_path)))
        assert local.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    logged = json.loads(Path(client.download_artifacts(run_id, "metrics.json", str(tmp_path)))
                        .read_text(encoding="utf-8"))
    assert set(logged["per_label"]) == {"dev", "test", "ood_test"}
    assert len(logged["history"]) == 2
    assert set(logged["thresholds"]) == {"complaint", "churn_intent", *SCHEMA.theme_keys}
    assert len(logged["calibration"]["themes"]) == len(SCHEMA.themes)
    model_files = {a.path for a in client.list_artifacts(run_id, "model")}
    assert "model/MLmodel" in model_files


def test_the_model_folder_records_its_run_and_calibration(trained):
    result = trained["result"]
    meta, schema = read_model_meta(result.model_dir)
    assert schema == SCHEMA
    assert meta["kind"] == "multitask-transformer" and meta["run_id"] == result.run_id
    assert meta["model_version"].startswith("tiny-")
    assert meta["metrics"]["dev_score"] == pytest.approx(result.metrics["dev_score"])
    assert all(0.0 < t < 1.0 for t in meta["thresholds"].values())
    assert all(t > 0 for t in meta["calibration"]["themes"])
    leftovers = [p.name for p in result.model_dir.parent.iterdir() if p.name.startswith(".")]
    assert leftovers == []  # the atomic save left no temp folder


def test_the_model_is_registered_as_version_one_and_champion(trained):
    result, client = trained["result"], trained["client"]
    assert result.version == "1" and result.champion
    champion = client.get_model_version_by_alias(NAME, "champion")
    assert str(champion.version) == "1" and champion.run_id == result.run_id
    assert champion.tags["run_id"] == result.run_id
    assert float(champion.tags["dev_score"]) == pytest.approx(result.metrics["dev_score"],
                                                              abs=1e-6)


def test_folder_registry_and_run_uris_load_the_same_model(trained):
    uri, result = trained["tracking_uri"], trained["result"]
    folder = load_classifier(result.model_dir)
    assert isinstance(folder, ComplaintClassifier)
    expected = folder.predict_proba(TEXTS)
    for model in (f"models:/{NAME}@champion", f"models:/{NAME}/1",
                  f"runs:/{result.run_id}/model"):
        other = load_classifier(model, tracking_uri=uri)
        assert other.model_version == folder.model_version, model
        assert other.thresholds == folder.thresholds, model
        probs = other.predict_proba(TEXTS)
        for key in expected:
            assert np.array_equal(probs[key], expected[key]), (model, key)
    champion = ComplaintClassifier.load(f"models:/{NAME}@champion", tracking_uri=uri)
    assert np.array_equal(champion.predict_proba(TEXTS)["themes"], expected["themes"])


def test_the_pyfunc_model_returns_the_contract_columns(trained):
    uri, result = trained["tracking_uri"], trained["result"]
    mlflow.set_tracking_uri(uri)
    model = mlflow.pyfunc.load_model(f"runs:/{result.run_id}/model")
    frame = model.predict(pd.DataFrame({"text": TEXTS}))
    assert list(frame.columns) == list(COLUMNS)
    assert len(frame) == len(TEXTS)
    classifier = load_classifier(result.model_dir)
    predictions = classifier.predict(TEXTS)
    np.testing.assert_allclose(frame["p_complaint"], [p.complaint for p in predictions],
                               rtol=1e-6)
    assert (frame["model_version"] == classifier.model_version).all()
    thresholds = thresholds_for(classifier)
    for row, prediction in zip(frame.to_dict("records"), predictions, strict=True):
        assert row["complaint"] == (prediction.complaint >= thresholds.complaint)
        assert row["themes"] == [k for k in SCHEMA.theme_keys
                                 if prediction.themes[k] >= thresholds.for_theme(k)]
    registered = mlflow.pyfunc.load_model(f"models:/{NAME}@champion")
    same = registered.predict(pd.DataFrame({"text": TEXTS}))
    client = mlflow.MlflowClient(tracking_uri=uri)
    packaged = {Path(a.path).name for a in client.list_artifacts(result.run_id, "model/code")}
    assert packaged == {"nlp", "training"}  # the pyfunc's code: no radar, no serve
    classifier_code = {Path(a.path).name
                       for a in client.list_artifacts(result.run_id, "model/code/nlp/classifier")}
    assert {"folder.py", "loading.py", "transformer.py", "onnx.py"} <= classifier_code
    pd.testing.assert_frame_equal(same, frame)
    with pytest.raises(ValueError, match="needs a 'text' column; got \\['body'\\]"):
        model.predict(pd.DataFrame({"body": TEXTS}))


def test_thresholds_for_the_classifier_are_its_own(trained):
    classifier = load_classifier(trained["result"].model_dir)
    own = read_model_meta(trained["result"].model_dir)[0]["thresholds"]
    thresholds = thresholds_for(classifier)
    assert thresholds.complaint == own["complaint"]
    assert thresholds.churn_intent == own["churn_intent"]
    assert set(thresholds.per_theme) == set(SCHEMA.theme_keys)
    assert {k: thresholds.for_theme(k) for k in SCHEMA.theme_keys} == {
        k: own[k] for k in SCHEMA.theme_keys}


def test_a_lower_score_does_not_take_the_champion_alias_and_a_higher_one_does(trained,
                                                                              store_copy):
    score = trained["result"].metrics["dev_score"]
    lower, higher = store_copy["lower"], store_copy["higher"]
    # str(): previous_champion holds MLflow's int version (see the report on Registration)
    assert (lower.version, lower.champion, str(lower.previous_champion)) == ("2", False, "1")
    assert lower.previous_score == pytest.approx(score)
    assert store_copy["alias_after_lower"] == "1"
    assert (higher.version, higher.champion, str(higher.previous_champion)) == ("3", True, "1")
    champion = store_copy["client"].get_model_version_by_alias(NAME, "champion")
    assert str(champion.version) == "3"
    # the original store is untouched
    assert str(trained["client"].get_model_version_by_alias(NAME, "champion").version) == "1"




def test_list_model_versions_shows_every_version_newest_first(trained, store_copy):
    versions = list_model_versions(store_copy["tracking_uri"])
    assert [v["version"] for v in versions] == [3, 2, 1]
    assert all(v["run_id"] == trained["result"].run_id for v in versions)
    metrics = versions[0]["metrics"]
    assert metrics["dev_score"] == pytest.approx(trained["result"].metrics["dev_score"])
    assert "test_themes_macro_f1" in metrics
    assert not any(k.startswith(("epoch_", "train_loss")) for k in metrics)


def test_list_model_versions_shows_the_champion_alias(store_copy):
    versions = list_model_versions(store_copy["tracking_uri"])
    assert {v["version"]: v["aliases"] for v in versions} == {
        3: ["champion"], 2: [], 1: ["previous-champion"]}


def models_list_table(tracking_uri: str) -> tuple[dict[str, str], str]:
    """``radar models list``: {version: aliases cell} and the whole output."""
    from radar.cli import app

    result = CliRunner().invoke(app, ["models", "list", "--tracking-uri", tracking_uri])
    assert result.exit_code == 0, result.output
    cells = [line.split("│") for line in result.output.splitlines()
             if line.strip().startswith("│")]
    return {c[1].strip(): c[2].strip() for c in cells if c[1].strip().isdigit()}, result.output


def test_radar_models_list_prints_every_version(trained, store_copy):
    versions, output = models_list_table(store_copy["tracking_uri"])
    assert sorted(versions) == ["1", "2", "3"]
    assert trained["result"].run_id[:12] in output
    assert f"{trained['result'].metrics['dev_score']:.3f}" in output


def test_radar_models_list_prints_the_champion_alias(store_copy):
    versions, _ = models_list_table(store_copy["tracking_uri"])
    assert versions == {"3": "champion", "2": "-", "1": "previous-champion"}


def test_registration_reports_versions_as_strings(store_copy):
    assert store_copy["lower"].previous_champion == "1"


def test_radar_models_list_on_an_empty_store_says_how_to_train(tmp_path):
    from radar.cli import app

    result = CliRunner().invoke(app, ["models", "list", "--tracking-uri",
                                      f"sqlite:///{tmp_path / 'empty.db'}"])
    assert result.exit_code == 1
    assert "no complaint-radar versions" in result.output


def test_ensure_transformer_reuses_the_trained_folder(trained):
    config, result, client = trained["config"], trained["result"], trained["client"]
    before = folder_sha256(result.model_dir)
    again = ensure_transformer(config, trained["tracking_uri"])
    assert again.reused
    assert again.run_id == result.run_id and again.model_dir == result.model_dir
    assert again.metrics["dev_score"] == pytest.approx(result.metrics["dev_score"])
    experiment = client.get_experiment_by_name(config.experiment)
    assert len(client.search_runs([experiment.experiment_id])) == 1
    assert folder_sha256(result.model_dir) == before
    assert [str(v.version) for v in client.search_model_versions(f"name='{NAME}'")] == ["1"]


def test_training_rows_drop_held_out_texts_and_subset_deterministically(trained):
    import datasets

    train = datasets.load_from_disk(trained["config"].corpus_dir)["train"]
    held_out_texts = train["text"][:50]
    from nlp.text import dedup_key

    held_out = {dedup_key(t) for t in held_out_texts}
    rows, sizes = training_rows(train, trained["config"], held_out)
    again, _ = training_rows(train, trained["config"], held_out)
    assert len(rows) == sizes["train_rows"] == 300
    assert sizes["corpus_train_rows"] == len(train)
    assert sizes["airline_test_texts_dropped"] >= 50
    assert rows["post_id"] == again["post_id"]
    assert not held_out & {dedup_key(t) for t in rows["text"]}
    everything, sizes_all = training_rows(
        train, dataclasses.replace(trained["config"], max_train_rows=None), held_out)
    assert len(everything) == len(train) - sizes_all["airline_test_texts_dropped"]


def test_the_champion_is_compared_only_on_gold_dev_items_neither_model_trained_on(
        trained, monkeypatch):
    import datasets
    from rich.console import Console

    import nlp.classifier as classifier_module
    from training.finetune import encode_split
    from training.metrics import dev_score, head_metrics
    from training.train_transformer import compare_with_champion, split_dev

    gold_dev = datasets.load_from_disk(trained["config"].corpus_dir)["validation"]
    champion = load_classifier("models:/complaint-radar@champion", trained["tracking_uri"])
    # a champion that trained on half of gold dev, challenged by a run that trained on none
    champion.meta = {**champion.meta, "config": {**champion.meta["config"],
                                                 "dev_train_fraction": 0.5}}
    monkeypatch.setattr(classifier_module, "load_classifier", lambda *a, **k: champion)
    challenger = dataclasses.replace(trained["config"], dev_train_fraction=0.0)
    _, dev = split_dev(gold_dev, 0.0)
    labels = encode_split(dev, champion.tokenizer, 32).labels
    logits = {k: v.copy() for k, v in champion.logits(dev["text"]).items()}
    console = Console(record=True, width=200)
    theirs, own = compare_with_champion(gold_dev, dev, logits, labels, challenger,
                                        trained["tracking_uri"], console)
    _, unseen = split_dev(gold_dev, 0.5)
    assert 0 < len(unseen) < len(dev)
    assert f"on the {len(unseen)} gold dev items neither model trained on" in console.export_text()
    # the same network on the same items: the two scores agree, and differ from the score
    # over all of dev (which holds the items the champion trained on)
    assert own == pytest.approx(theirs, abs=1e-3)
    assert own != pytest.approx(dev_score(head_metrics(logits, labels)), abs=1e-6)


def test_a_new_champion_keeps_the_old_one_as_previous_champion(store_copy):
    client = store_copy["client"]
    assert store_copy["higher"].champion
    previous = client.get_model_version_by_alias(NAME, "previous-champion")
    assert str(previous.version) == store_copy["alias_after_lower"]


def test_the_behaviour_suite_runs_against_the_tiny_transformer(trained):
    from nlp.classifier import load_classifier
    from training.behaviour import MFT_CASES, MFT_GROUPS, run_behaviour

    clf = load_classifier(str(trained["result"].model_dir))
    report = run_behaviour(clf)
    assert report.suites["mft"].cases == len(MFT_CASES)
    assert set(report.groups) == set(MFT_GROUPS)
    assert all(report.group_pass_rate(g) is not None for g in MFT_GROUPS)


def test_heldout_lines_put_the_out_of_domain_figures_first():
    metrics = {}
    for split, base in (("test", 0.8), ("ood_test", 0.4)):
        metrics.update({f"{split}_complaint_macro_f1": base, f"{split}_themes_macro_f1": base,
                        f"{split}_themes_macro_supported_f1": base,
                        f"{split}_themes_macro_supported_themes": 9,
                        f"{split}_churn_intent_f1": base, f"{split}_sentiment_macro_f1": base})
    ood, in_domain = heldout_lines(metrics)
    assert ood.startswith("out-of-domain test") and "complaint macro-F1 0.400" in ood
    assert in_domain.startswith("in-domain gold test") and "churn F1 0.800" in in_domain
    del metrics["ood_test_complaint_macro_f1"]
    assert [line.split(":")[0] for line in heldout_lines(metrics)] == ["in-domain gold test"]


def test_weak_label_weight_scales_only_the_weak_theme_and_churn_masks(trained):
    import datasets

    from training.finetune import encode_split

    train = datasets.load_from_disk(trained["config"].corpus_dir)["train"]
    tokenizer = load_classifier(trained["result"].model_dir).tokenizer
    rows = train.select(range(min(len(train), 40)))
    rows = datasets.concatenate_datasets([rows, rows.map(
        lambda r: {"themes_source": "written-posts", "churn_intent_source": "written-posts"})])
    full = encode_split(rows, tokenizer, 32).labels
    light = encode_split(rows, tokenizer, 32, weak_label_weight=0.25).labels
    weak = np.asarray(rows["themes_source"]) == "weak"
    assert weak.any() and (~weak).any()
    for task in ("themes", "churn_intent"):
        assert np.allclose(light[f"{task}_mask"][weak], 0.25 * full[f"{task}_mask"][weak])
        assert np.array_equal(light[f"{task}_mask"][~weak], full[f"{task}_mask"][~weak])
    for task in ("sentiment", "complaint"):
        assert np.array_equal(light[f"{task}_mask"], full[f"{task}_mask"])
