"""``radar evaluate`` and what it is built from, on the tiny fine-tune.

``training/configs/tiny.yaml`` (a random tiny BERT) is trained once per module into a
temporary model folder, corpus folder and SQLite MLflow store, as in
``test_train_transformer.py``; the CV runs use 2 folds of 120 complaints-2019 tweets.
"""

import json
import shutil
from pathlib import Path

import mlflow
import numpy as np
import pytest
from typer.testing import CliRunner

from nlp.classifier import load_classifier
from nlp.taxonomy import THEME_KEYS
from radar.cli import app
from tests.conftest import copy_tracking_store
from training import datasets as registry
from training.cv_transformer import CV_NOTE, cross_validate, read_cv, save_cv
from training.evaluate_model import (
    AIRLINE_SPLIT,
    CARD_FILE,
    CV_FILE,
    evaluate_model,
    log_to_run,
    render_card,
    weak_on_test,
    write_card,
    yardstick_rows,
)
from training.splits import dedup_split

REPO = Path(__file__).resolve().parents[2]
LABELS = (*THEME_KEYS, "churn_intent")
# made-up baseline figures: each must show up, as written, in the yardstick column
BASELINE = {"airline_accuracy": 0.7771, "airline_macro_f1": 0.7012,
            "complaints_macro_f1_mean": 0.7654, "complaints_accuracy_mean": 0.8123}
runner = CliRunner()


def _flat(output: str) -> str:
    """Output with line wrapping undone, so assertions do not depend on terminal width."""
    return " ".join(output.split())


@pytest.fixture(scope="module")
def trained(tiny_transformer, tmp_path_factory):
    """The session's tiny.yaml run with a private MLflow store, and the loaded model."""
    root = tmp_path_factory.mktemp("tiny-eval")
    uri = copy_tracking_store(tiny_transformer, root)
    classifier = load_classifier(tiny_transformer["result"].model_dir)
    return {**tiny_transformer, "tracking_uri": uri, "root": root, "classifier": classifier}


@pytest.fixture(scope="module")
def evaluation(trained, mirror_dir):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RADAR_DATA_MIRROR", str(mirror_dir))
        return evaluate_model(trained["classifier"], trained["corpus_dir"], BASELINE, None,
                              behaviour=False)


@pytest.fixture(scope="module")
def data_card(trained) -> dict:
    return json.loads((trained["corpus_dir"] / "data_card.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def baseline_config(trained, tiny_trained) -> Path:
    """A copy of tiny-baseline.yaml whose model folder is the session's tiny baseline (in
    tmp), so ``radar evaluate`` reuses it instead of training it again."""
    path = trained["root"] / "tiny-baseline.yaml"
    text = (REPO / "training/configs/tiny-baseline.yaml").read_text(encoding="utf-8")
    assert "model_dir: models/tiny-baseline" in text
    path.write_text(text.replace("model_dir: models/tiny-baseline",
                                 f"model_dir: {tiny_trained['result'].model_dir}"),
                    encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def cv_result(trained, mirror_dir):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RADAR_DATA_MIRROR", str(mirror_dir))
        return cross_validate(trained["config"], folds=2, epochs=1, max_rows=120)


def evaluate_cli(trained, baseline_config: Path, card_dir: Path, *extra: str,
                 model: str | None = None):
    return runner.invoke(app, [
        "evaluate", "--model", model or str(trained["result"].model_dir),
        "--corpus-dir", str(trained["corpus_dir"]), "--no-behaviour",
        "--baseline-config", str(baseline_config), "--card-dir", str(card_dir),
        "--tracking-uri", trained["tracking_uri"], *extra])


# --- evaluate_model and its parts ---------------------------------------------------------


def test_airline_figures_are_on_the_dedup_test_split(evaluation):
    split = dedup_split(registry.load("airline-sentiment-2015"), "sentiment",
                        AIRLINE_SPLIT["test_size"], AIRLINE_SPLIT["seed"])
    m = evaluation.metrics
    assert m["airline_test_rows"] == len(split.test)
    assert 0.15 * 14_485 < m["airline_test_rows"] < 0.25 * 14_485
    assert 0.0 <= m["airline_accuracy"] <= 1.0
    assert 0.0 <= m["airline_macro_f1"] <= 1.0


def test_gold_test_has_precision_recall_f1_for_every_theme_and_churn(evaluation, trained):
    import datasets

    m = evaluation.metrics
    test_rows = len(datasets.load_from_disk(str(trained["corpus_dir"]))["test"])
    for label in LABELS:
        for name in ("precision", "recall", "f1"):
            assert 0.0 <= m[f"gold_test_{label}_{name}"] <= 1.0, (label, name)
        assert 0 <= m[f"gold_test_{label}_support"] <= test_rows
    assert m["gold_test_themes_macro_f1"] == pytest.approx(
        np.mean([m[f"gold_test_{t}_f1"] for t in THEME_KEYS]))
    assert len(THEME_KEYS) == 9


def test_weak_figures_come_from_the_data_card(evaluation, trained, data_card):
    assert weak_on_test(trained["corpus_dir"]) == data_card["weak_on_test"]
    assert evaluation.metrics["weak_test_themes_macro_f1"] == pytest.approx(
        np.mean([data_card["weak_on_test"][t]["f1"] for t in THEME_KEYS]))


def test_weak_on_test_reads_whatever_the_card_says(tmp_path):
    card = {"weak_on_test": {k: {"f1": 0.123, "precision": 0.5, "recall": 0.25}
                             for k in LABELS}}
    (tmp_path / "data_card.json").write_text(json.dumps(card), encoding="utf-8")
    assert weak_on_test(tmp_path) == card["weak_on_test"]


def test_the_evaluation_holds_no_cv_or_behaviour_when_not_asked(evaluation, trained):
    assert evaluation.model_version == trained["classifier"].model_version
    assert evaluation.behaviour is None and evaluation.behaviour_markdown == ""
    assert not any(k.startswith(("complaints_cv_", "behaviour_")) for k in evaluation.metrics)


def test_yardstick_rows_put_each_label_next_to_the_weak_labels(evaluation, data_card):
    rows = {measure: (ours, yardstick) for measure, ours, yardstick in evaluation.rows}
    weak, m = data_card["weak_on_test"], evaluation.metrics
    for key in LABELS:
        ours, yardstick = rows[f"gold test F1: {key} (P / R)"]
        assert ours.startswith(f"{m[f'gold_test_{key}_f1']:.3f} ("), key
        assert f"n={m[f'gold_test_{key}_support']}" in ours, key
        assert yardstick.startswith(f"weak {weak[key]['f1']:.3f} ("), key
    ours, yardstick = rows["gold test: macro-F1 over the 9 themes"]
    assert ours == f"{m['gold_test_themes_macro_f1']:.3f}"
    assert yardstick.startswith(f"weak labels {m['weak_test_themes_macro_f1']:.3f}")


def test_yardstick_rows_show_the_baseline_figures(evaluation):
    rows = {measure: (ours, yardstick) for measure, ours, yardstick in evaluation.rows}
    ours, yardstick = rows["airline sentiment accuracy (dedup test split)"]
    assert ours == f"{evaluation.metrics['airline_accuracy']:.3f}"
    assert "baseline 0.777" in yardstick and "RoBERTa" in yardstick
    assert "baseline 0.701" in rows["airline sentiment macro-F1 (dedup test split)"][1]
    assert rows["complaints-2019 macro-F1, 10-fold CV"][0].startswith("not run")


def test_yardstick_rows_with_a_cv_result_show_mean_and_std(evaluation, data_card):
    cv = {"folds": 10, "macro_f1_mean": 0.6543, "macro_f1_std": 0.0212,
          "accuracy_mean": 0.7345, "accuracy_std": 0.0101}
    rows = yardstick_rows(evaluation.metrics, BASELINE, data_card["weak_on_test"], cv)
    by_measure = {measure: (ours, yardstick) for measure, ours, yardstick in rows}
    ours, yardstick = by_measure["complaints-2019 macro-F1, stratified 10-fold CV"]
    assert ours == "0.654 ± 0.021" and yardstick.startswith("baseline 0.765")
    ours, yardstick = by_measure["complaints-2019 accuracy, stratified 10-fold CV"]
    assert ours == "0.735 ± 0.010" and yardstick == "baseline 0.812"
    assert not any(ours.startswith("not run") for _, ours, _ in rows)


def test_render_card_holds_the_table_and_the_model_version(evaluation, trained):
    meta = trained["classifier"].meta
    card = render_card(meta, evaluation, "NOTES GO HERE")
    assert card.startswith(f"# Model card: tiny ({meta['model_version']})")
    assert f"MLflow run `{meta['run_id']}`" in card
    assert "| measure | this model | yardstick |" in card
    for measure, ours, yardstick in evaluation.rows:
        assert f"| {measure} | {ours} | {yardstick} |" in card
    assert card.rstrip().endswith("NOTES GO HERE")
    assert "## Behaviour suite" not in card  # behaviour was not run


def test_write_card_writes_model_card_md(evaluation, trained, tmp_path):
    card = render_card(trained["classifier"].meta, evaluation, "")
    path = write_card(tmp_path, card)
    assert path == tmp_path / CARD_FILE
    assert path.read_text(encoding="utf-8") == card


def test_log_to_run_adds_eval_metrics_and_the_card(evaluation, trained, tmp_path):
    uri, run_id = trained["tracking_uri"], trained["result"].run_id
    card = render_card(trained["classifier"].meta, evaluation, "")
    assert log_to_run(run_id, evaluation, card, uri) is True
    client = mlflow.MlflowClient(tracking_uri=uri)
    metrics = client.get_run(run_id).data.metrics
    for key in ("airline_accuracy", "airline_macro_f1", "gold_test_themes_macro_f1",
                "gold_test_churn_intent_f1", "weak_test_themes_macro_f1"):
        assert metrics[f"eval_{key}"] == pytest.approx(evaluation.metrics[key]), key
    assert "dev_score" in metrics  # the training metrics are still there
    artifacts = {a.path for a in client.list_artifacts(run_id)}
    assert {CARD_FILE, "evaluation.json"} <= artifacts
    logged = Path(client.download_artifacts(run_id, CARD_FILE, str(tmp_path)))
    assert logged.read_text(encoding="utf-8") == card


def test_log_to_run_returns_false_for_a_run_not_in_the_store(evaluation, trained):
    uri = trained["tracking_uri"]
    assert log_to_run("0123456789abcdef0123456789abcdef", evaluation, "card", uri) is False
    assert log_to_run(None, evaluation, "card", uri) is False


# --- complaints-2019 CV --------------------------------------------------------------------


def test_cross_validate_returns_each_fold_and_their_mean(cv_result):
    folds = cv_result["per_fold"]
    assert [f["fold"] for f in folds] == [0, 1]
    assert cv_result["folds"] == 2 and cv_result["epochs"] == 1 and cv_result["rows"] == 120
    assert sum(f["test_rows"] for f in folds) == 120
    for fold in folds:
        assert 0.0 <= fold["macro_f1"] <= 1.0 and 0.0 <= fold["accuracy"] <= 1.0
        assert fold["best_epoch"] == 1
    assert cv_result["macro_f1_mean"] == pytest.approx(np.mean([f["macro_f1"] for f in folds]))
    assert cv_result["accuracy_mean"] == pytest.approx(np.mean([f["accuracy"] for f in folds]))
    assert cv_result["macro_f1_std"] == pytest.approx(np.std([f["macro_f1"] for f in folds]))
    assert cv_result["dataset"] == "complaints-2019"


def test_save_cv_and_read_cv_round_trip(cv_result, tmp_path):
    path = tmp_path / "nested" / CV_FILE
    assert read_cv(path) is None
    save_cv(cv_result, path)
    assert read_cv(path) == cv_result
    assert CV_NOTE.format(**cv_result).startswith("complaints-2019 CV: 2 stratified folds "
                                                  "over 120 tweets, 1 epochs")


# --- radar evaluate ------------------------------------------------------------------------


def evaluate_figures(trained) -> dict:
    """The figures `radar evaluate` computes on gold test and the out-of-domain test."""
    from training.evaluate_model import evaluate_gold_splits

    return evaluate_gold_splits(trained["classifier"], trained["corpus_dir"])


def test_radar_evaluate_prints_the_yardsticks_and_writes_the_card(trained, baseline_config,
                                                                  tiny_trained, tmp_path):
    card_dir = tmp_path / "card"
    result = evaluate_cli(trained, baseline_config, card_dir)
    assert result.exit_code == 0, result.output
    out = _flat(result.output)
    version = trained["classifier"].model_version
    assert f"{trained['result'].model_dir} ({version})" in out  # the table's title
    card = (card_dir / CARD_FILE).read_text(encoding="utf-8")
    assert f"# Model card: tiny ({version})" in card
    card_rows = {cells[1].strip(): (cells[2].strip(), cells[3].strip())
                 for cells in (line.split("|") for line in card.splitlines())
                 if len(cells) == 5 and cells[1].strip().startswith("gold test")}
    printed = [line for line in result.output.splitlines() if line.startswith("│")]
    for key in LABELS:
        measure = f"gold test F1: {key} (P / R)"
        ours, weak = card_rows[measure]
        assert ours[0].isdigit() and weak.startswith("weak "), key
        line = next(line for line in printed if f" {measure} " in line)
        assert f" {ours} " in line and f" {weak} " in line, (line, ours, weak)
    assert "gold test: macro-F1 over the 9 themes" in card_rows
    # issue [H]: in-domain and out-of-domain side by side, then per held-out industry
    assert "in-domain and out-of-domain" in out and "out-of-domain test per held-out" in out
    assert "## In-domain and out-of-domain" in card
    side = {cells[1].strip(): [c.strip() for c in cells[2:-1]]
            for cells in (line.split("|") for line in card.splitlines()) if len(cells) == 7}
    m = trained_metrics = evaluate_figures(trained)
    assert side["complaint macro-F1"][:2] == [f"{m['test_complaint_macro_f1']:.3f}",
                                              f"{m['ood_test_complaint_macro_f1']:.3f}"]
    assert side["churn intent F1"][2] != "–"  # the weak labels' figures are beside it
    assert trained_metrics["ood_test_themes_supported"] == 7  # ivr_menu, marketing_spam short
    for industry in ("telecom & services", "banking & lending"):
        assert f"| {industry} |" in card
    assert "airline sentiment accuracy" in out and "not run (radar evaluate" in out
    assert f"model card: {card_dir / CARD_FILE}" in out
    assert f"logged to run {trained['result'].run_id}" in out
    # the baseline of the copied config is reused, not trained again
    assert f"reusing {tiny_trained['result'].model_dir}" in out
    assert not (card_dir / CV_FILE).exists()
    assert "Traceback" not in result.output


def test_radar_evaluate_with_complaints_cv_puts_the_cv_in_the_card(trained, baseline_config,
                                                                   tmp_path):
    card_dir = tmp_path / "card"
    result = evaluate_cli(trained, baseline_config, card_dir, "--complaints-cv", "--folds", "2",
                          "--cv-epochs", "1", "--cv-max-rows", "120")
    assert result.exit_code == 0, result.output
    cv = read_cv(card_dir / CV_FILE)
    assert cv is not None and cv["folds"] == 2 and cv["rows"] == 120
    assert len(cv["per_fold"]) == 2
    card = (card_dir / CARD_FILE).read_text(encoding="utf-8")
    assert f"| {cv['macro_f1_mean']:.3f} ± {cv['macro_f1_std']:.3f} |" in card
    assert f"| {cv['accuracy_mean']:.3f} ± {cv['accuracy_std']:.3f} |" in card
    assert CV_NOTE.format(**cv) in card
    assert "fold 2/2" in _flat(result.output)
    metrics = mlflow.MlflowClient(tracking_uri=trained["tracking_uri"]).get_run(
        trained["result"].run_id).data.metrics
    assert metrics["eval_complaints_cv_macro_f1_mean"] == pytest.approx(cv["macro_f1_mean"])


def test_radar_evaluate_refuses_complaints_cv_on_the_baseline(trained, baseline_config,
                                                              tiny_trained, tmp_path):
    result = evaluate_cli(trained, baseline_config, tmp_path / "card", "--complaints-cv",
                          "--folds", "2", model=str(tiny_trained["result"].model_dir))
    assert result.exit_code == 1
    out = _flat(result.output)
    assert "--complaints-cv fine-tunes the model's encoder" in out
    assert "'tfidf-logreg' model" in out
    assert "Traceback" not in result.output
    assert not (tmp_path / "card" / CV_FILE).exists()


def test_radar_evaluate_refuses_too_few_cv_rows_before_any_work(trained, baseline_config,
                                                                tmp_path):
    result = evaluate_cli(trained, baseline_config, tmp_path / "card", "--complaints-cv",
                          "--folds", "5", "--cv-max-rows", "20",
                          model=str(trained["result"].model_dir))
    assert result.exit_code == 1
    assert "--cv-max-rows 20 is too few for 5 folds; give at least 50" in _flat(result.output)
    assert "Traceback" not in result.output
    assert not (tmp_path / "card").exists()


@pytest.mark.parametrize("model", ["models:/complaint-radar/99", "no-such-model-folder"])
def test_radar_evaluate_on_a_model_that_does_not_exist_says_so(trained, baseline_config,
                                                               tmp_path, model):
    result = evaluate_cli(trained, baseline_config, tmp_path / "card", model=model)
    assert result.exit_code == 1
    out = _flat(result.output)
    assert "error:" in out
    assert ("cannot load models:/complaint-radar/99" in out if model.startswith("models:/")
            else "no-such-model-folder is not a model folder" in out)
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)
    assert not (tmp_path / "card").exists()


def test_a_copied_corpus_without_a_card_is_refused(trained, baseline_config, tmp_path):
    corpus = tmp_path / "corpus"
    shutil.copytree(trained["corpus_dir"], corpus)
    (corpus / "data_card.json").unlink()
    result = runner.invoke(app, [
        "evaluate", "--model", str(trained["result"].model_dir), "--corpus-dir", str(corpus),
        "--no-behaviour", "--baseline-config", str(baseline_config),
        "--card-dir", str(tmp_path / "card"), "--tracking-uri", trained["tracking_uri"]])
    assert result.exit_code == 1
    assert "holds no corpus" in _flat(result.output)


def test_radar_evaluate_on_the_baseline_writes_a_card(trained, baseline_config, tiny_trained,
                                                      tmp_path):
    result = evaluate_cli(trained, baseline_config, tmp_path / "card",
                          model=str(tiny_trained["result"].model_dir))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 0, result.output
    assert (tmp_path / "card" / CARD_FILE).is_file()
