"""The multi-task network's building blocks: loss, batching, calibration, config, folder format.

Fast and offline: no MLflow, no datasets; the network is the tiny random BERT of
``conftest.py`` (the config in ``training/configs/tiny.yaml``, the MiniLM tokenizer).
"""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from safetensors.torch import load_file, save_file

from nlp.classifier import ComplaintClassifier, ModelLoadError, load_classifier
from nlp.classifier.folder import ENCODER_DIR
from nlp.classifier.multitask import HEADS_CONFIG, HEADS_FILE, load_network
from nlp.taxonomy import SCHEMA, LabelSchema, SchemaMismatchError
from nlp.text import normalize_text
from tests.nlp.classifier.conftest import (
    TINY_DROPOUT,
    TINY_META,
    TINY_SEED,
    TINY_YAML,
    build_tiny_network,
)
from training.config import TASK_KEYS, ConfigError, FineTuneConfig, load_config
from training.finetune import (
    Encoded,
    LossWeights,
    bucketed_batches,
    collate,
    multitask_loss,
    sorted_batches,
)
from training.metrics import THRESHOLDS, fit_calibration

N_SENT, N_THEMES = len(SCHEMA.sentiments), len(SCHEMA.themes)
TEXTS = ["@united lost my bag again, 3 hours on hold", "thank you so much!",
         "cancel my account, the app never works", "ok", ""]


# --- the masked multi-task loss ---------------------------------------------------------

def unit_weights(**tasks: float) -> LossWeights:
    return LossWeights(tasks={t: 1.0 for t in TASK_KEYS} | tasks,
                       sentiment=torch.ones(N_SENT), complaint=torch.tensor(1.0),
                       themes=torch.ones(N_THEMES), churn_intent=torch.tensor(1.0))


def make_batch(n: int = 6, seed: int = 0) -> tuple[dict, dict]:
    """Random head outputs and a batch where row 0 is masked out of every task."""
    g = torch.Generator().manual_seed(seed)
    outputs = {"sentiment": torch.randn(n, N_SENT, generator=g),
               "complaint": torch.randn(n, generator=g),
               "themes": torch.randn(n, N_THEMES, generator=g),
               "churn_intent": torch.randn(n, generator=g)}
    mask = torch.ones(n)
    mask[0] = 0.0
    batch = {"sentiment": torch.randint(0, N_SENT, (n,), generator=g),
             "sentiment_mask": mask.clone(),
             "complaint": torch.randint(0, 2, (n,), generator=g).float(),
             "complaint_mask": mask.clone(),
             "themes": torch.randint(0, 2, (n, N_THEMES), generator=g).float(),
             "themes_mask": mask.clone(),
             "churn_intent": torch.randint(0, 2, (n,), generator=g).float(),
             "churn_intent_mask": mask.clone()}
    batch["sentiment"][0] = -1  # the corpus's "absent" sentiment
    return outputs, batch


def flip_label(batch: dict, task: str, row: int) -> dict:
    changed = {k: v.clone() for k, v in batch.items()}
    if task == "sentiment":
        changed[task][row] = (int(batch[task][row].clamp(min=0)) + 1) % N_SENT
    else:
        changed[task][row] = 1.0 - batch[task][row].clamp(0, 1)
    return changed


@pytest.mark.parametrize("task", TASK_KEYS)
def test_a_masked_rows_label_does_not_change_the_loss(task):
    outputs, batch = make_batch()
    total, parts = multitask_loss(outputs, batch, unit_weights())
    total2, parts2 = multitask_loss(outputs, flip_label(batch, task, row=0), unit_weights())
    assert float(total2) == pytest.approx(float(total), abs=1e-7)
    assert parts2 == pytest.approx(parts, abs=1e-7)


@pytest.mark.parametrize("task", TASK_KEYS)
def test_an_unmasked_rows_label_changes_the_loss_of_its_task_only(task):
    outputs, batch = make_batch()
    total, parts = multitask_loss(outputs, batch, unit_weights())
    total2, parts2 = multitask_loss(outputs, flip_label(batch, task, row=1), unit_weights())
    assert abs(float(total2) - float(total)) > 1e-4
    assert abs(parts2[task] - parts[task]) > 1e-4
    assert {k: v for k, v in parts2.items() if k != task} == pytest.approx(
        {k: v for k, v in parts.items() if k != task}, abs=1e-7)


@pytest.mark.parametrize("task", TASK_KEYS)
def test_a_task_masked_in_every_row_adds_zero_not_nan(task):
    outputs, batch = make_batch()
    batch[f"{task}_mask"] = torch.zeros_like(batch[f"{task}_mask"])
    total, parts = multitask_loss(outputs, batch, unit_weights())
    assert parts[task] == 0.0
    assert torch.isfinite(total)
    assert float(total) == pytest.approx(sum(parts.values()), rel=1e-6)


def test_the_loss_has_a_gradient_through_masked_mean():
    outputs, batch = make_batch()
    outputs = {k: v.requires_grad_() for k, v in outputs.items()}
    total, _ = multitask_loss(outputs, batch, unit_weights())
    total.backward()
    for key, value in outputs.items():
        assert torch.all(value.grad[0] == 0), f"masked row 0 got a {key} gradient"
        assert value.grad[1:].abs().sum() > 0


@pytest.mark.parametrize("task, target", [("themes", 0.3), ("churn_intent", 0.7)])
def test_soft_targets_are_used_as_probabilities(task, target):
    """A weak label of 0.3 is best matched by a logit of logit(0.3), not by a hard 0 or 1."""
    _, batch = make_batch(n=1)
    batch[task] = torch.full_like(batch[task], target)
    batch[f"{task}_mask"] = torch.ones(1)

    def loss_at(logit: float) -> float:
        outputs, _ = make_batch(n=1)
        outputs[task] = torch.full_like(outputs[task], logit)
        return multitask_loss(outputs, batch, unit_weights())[1][task]

    best = float(np.log(target / (1 - target)))
    assert np.isfinite(loss_at(best))
    assert loss_at(best) < loss_at(best - 2.0)
    assert loss_at(best) < loss_at(best + 2.0)


@pytest.mark.parametrize("task", ["complaint", "churn_intent"])
def test_pos_weight_raises_the_loss_of_a_missed_positive_only(task):
    outputs, batch = make_batch(n=2)
    outputs[task] = torch.tensor([-3.0, 3.0])  # a missed positive, a false positive
    batch[task] = torch.tensor([1.0, 0.0])
    batch[f"{task}_mask"] = torch.tensor([1.0, 0.0])
    heavy = LossWeights(**{**unit_weights().__dict__, task: torch.tensor(4.0)})
    missed = multitask_loss(outputs, batch, unit_weights())[1][task]
    assert multitask_loss(outputs, batch, heavy)[1][task] == pytest.approx(4 * missed, rel=1e-5)

    batch[f"{task}_mask"] = torch.tensor([0.0, 1.0])  # only the negative row counts
    negative = multitask_loss(outputs, batch, unit_weights())[1][task]
    assert multitask_loss(outputs, batch, heavy)[1][task] == pytest.approx(negative, rel=1e-6)


def test_theme_pos_weight_applies_per_theme():
    outputs, batch = make_batch(n=2)
    outputs["themes"] = torch.full((2, N_THEMES), -3.0)
    batch["themes"] = torch.zeros(2, N_THEMES)
    batch["themes"][:, 4] = 1.0  # one missed positive theme
    batch["themes_mask"] = torch.ones(2)
    heavy = unit_weights().themes.clone()
    heavy[4] = 5.0
    base = multitask_loss(outputs, batch, unit_weights())[1]["themes"]
    weighted = multitask_loss(outputs, batch,
                              LossWeights(**{**unit_weights().__dict__, "themes": heavy}))
    assert weighted[1]["themes"] > base
    heavy_other = unit_weights().themes.clone()
    heavy_other[0] = 5.0  # theme 0 has no positives: its pos_weight changes nothing
    other = multitask_loss(outputs, batch,
                           LossWeights(**{**unit_weights().__dict__, "themes": heavy_other}))
    assert other[1]["themes"] == pytest.approx(base, rel=1e-6)


def test_task_weight_zero_removes_a_task_and_weights_scale_it():
    outputs, batch = make_batch()
    without = unit_weights(sentiment=0.0)
    total, parts = multitask_loss(outputs, batch, without)
    total2, _ = multitask_loss(outputs, flip_label(batch, "sentiment", row=1), without)
    assert float(total2) == pytest.approx(float(total), abs=1e-7)
    assert parts["sentiment"] > 0  # still computed and logged, just not trained on
    assert float(total) == pytest.approx(sum(v for k, v in parts.items() if k != "sentiment"),
                                         rel=1e-6)
    doubled, _ = multitask_loss(outputs, batch, unit_weights(themes=2.0))
    assert float(doubled) == pytest.approx(sum(parts.values()) + parts["themes"], rel=1e-6)


# --- batching -------------------------------------------------------------------------

def padding(batches: list[np.ndarray], lengths: np.ndarray) -> int:
    return int(sum(lengths[b].max() * len(b) - lengths[b].sum() for b in batches))


@pytest.fixture(scope="module")
def lengths() -> np.ndarray:
    return np.random.default_rng(1).integers(3, 65, size=1234)


def test_bucketed_batches_hold_every_index_once(lengths):
    batches = bucketed_batches(lengths, 16, np.random.default_rng(7))
    assert np.array_equal(np.sort(np.concatenate(batches)), np.arange(len(lengths)))
    assert all(1 <= len(b) <= 16 for b in batches)
    assert len(batches) == 50 + 28  # chunks of 50 batches: 800 rows, then 434 rows


def test_bucketed_batches_are_deterministic_per_seed(lengths):
    first = bucketed_batches(lengths, 16, np.random.default_rng(7))
    again = bucketed_batches(lengths, 16, np.random.default_rng(7))
    other = bucketed_batches(lengths, 16, np.random.default_rng(8))
    assert [b.tolist() for b in first] == [b.tolist() for b in again]
    assert [b.tolist() for b in first] != [b.tolist() for b in other]


def test_bucketed_batches_pad_much_less_than_random_batches(lengths):
    rng = np.random.default_rng(7)
    bucketed = bucketed_batches(lengths, 16, rng)
    order = rng.permutation(len(lengths))
    random = [order[i:i + 16] for i in range(0, len(order), 16)]
    assert padding(bucketed, lengths) < 0.25 * padding(random, lengths)
    # ... and still shuffled: not one long ascending run
    firsts = [lengths[b].min() for b in bucketed]
    assert firsts != sorted(firsts)


def test_sorted_batches_cover_every_index_in_length_order(lengths):
    batches = sorted_batches(lengths, 64)
    flat = np.concatenate(batches)
    assert np.array_equal(np.sort(flat), np.arange(len(lengths)))
    assert np.all(np.diff(lengths[flat]) >= 0)
    assert [len(b) for b in batches[:-1]] == [64] * (len(batches) - 1)


def hand_made_encoded() -> Encoded:
    """Five rows; row 4 has no sentiment and no complaint; row 3 has no themes."""
    themes = np.zeros((5, N_THEMES), dtype=np.float32)
    themes[:2, 0] = 1.0  # theme 0: 2 of the 4 unmasked rows
    themes[:, 1] = 0.8  # theme 1: mostly positive -> pos_weight floors at 1
    themes[3, 2] = 1.0  # theme 2: its only positive is in a masked row
    return Encoded(
        input_ids=[[101, 5, 102], [101, 102], [101, 7, 8, 9, 102], [101, 6, 6, 102], [101, 102]],
        labels={
            "sentiment": np.array([0, 0, 0, 1, -1], dtype=np.int64),
            "sentiment_mask": np.array([1, 1, 1, 1, 0], dtype=np.float32),
            "complaint": np.array([1, 0, 0, 0, -1], dtype=np.float32),
            "complaint_mask": np.array([1, 1, 1, 1, 0], dtype=np.float32),
            "themes": themes,
            "themes_mask": np.array([1, 1, 1, 0, 1], dtype=np.float32),
            "churn_intent": np.array([0.1, 0.1, 0.0, 0.0, 0.0], dtype=np.float32),
            "churn_intent_mask": np.ones(5, dtype=np.float32),
        })


def test_collate_pads_to_the_longest_row_with_an_attention_mask():
    encoded = hand_made_encoded()
    batch = collate(encoded, np.array([2, 1, 0]), pad_id=0)
    assert batch["input_ids"].tolist() == [[101, 7, 8, 9, 102], [101, 102, 0, 0, 0],
                                           [101, 5, 102, 0, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 1, 1], [1, 1, 0, 0, 0],
                                                [1, 1, 1, 0, 0]]
    assert batch["input_ids"].dtype == torch.long
    assert batch["complaint"].tolist() == [0.0, 0.0, 1.0]
    assert batch["themes"].shape == (3, N_THEMES)
    assert set(batch) == {"input_ids", "attention_mask", *encoded.labels}
    narrow = collate(encoded, np.array([1, 4]), pad_id=99)
    assert narrow["input_ids"].shape == (2, 2)  # padded only to this batch's longest
    assert encoded.lengths.tolist() == [3, 2, 5, 4, 2]


def test_loss_weights_from_train_count_only_labelled_rows():
    w = LossWeights.from_train(hand_made_encoded(), {"themes": 0.5}, max_pos_weight=10.0,
                               n_sentiments=N_SENT)
    # sentiment counts [3, 1, 0 -> 1]; sqrt(total / (classes * count))
    assert w.sentiment.tolist() == pytest.approx(np.sqrt([5 / 9, 5 / 3, 5 / 3]).tolist())
    assert float(w.complaint) == pytest.approx(3.0)  # 1 positive of 4 labelled rows
    assert w.themes[0].item() == pytest.approx(0.5 / 0.5)  # 2 of 4 unmasked rows
    assert w.themes[1].item() == 1.0  # more positives than negatives: floor at 1
    assert w.themes[2].item() == 10.0  # no positive where unmasked: capped
    assert float(w.churn_intent) == 10.0  # mean 0.04 -> 24, capped
    assert w.tasks == {"themes": 0.5}
    assert w.to_dict()["complaint"] == pytest.approx(3.0)


def test_loss_weights_of_a_task_without_labels_are_one():
    encoded = hand_made_encoded()
    labels = dict(encoded.labels, complaint_mask=np.zeros(5, dtype=np.float32),
                  sentiment_mask=np.zeros(5, dtype=np.float32))
    w = LossWeights.from_train(Encoded(encoded.input_ids, labels), {}, 10.0, N_SENT)
    assert float(w.complaint) == 1.0
    assert w.sentiment.tolist() == [1.0, 1.0, 1.0]


# --- calibration ------------------------------------------------------------------------

def calibration_data(scale: float, n: int = 3000, seed: int = 3) -> tuple[dict, dict]:
    """Gold drawn from true probabilities; logits are the true log-odds times ``scale``."""
    rng = np.random.default_rng(seed)
    true_logit = rng.normal(0, 1.5, size=(n, 2 + N_THEMES))
    gold = (rng.random(true_logit.shape) < 1 / (1 + np.exp(-true_logit))).astype(np.float32)
    sent_logit = rng.normal(0, 1.5, size=(n, N_SENT))
    p = np.exp(sent_logit) / np.exp(sent_logit).sum(axis=1, keepdims=True)
    sent_gold = np.array([rng.choice(N_SENT, p=row) for row in p])
    logits = {"sentiment": scale * sent_logit, "complaint": scale * true_logit[:, 0],
              "churn_intent": scale * true_logit[:, 1], "themes": scale * true_logit[:, 2:]}
    labels = {"sentiment": sent_gold, "sentiment_mask": np.ones(n),
              "complaint": gold[:, 0], "complaint_mask": np.ones(n),
              "churn_intent": gold[:, 1], "churn_intent_mask": np.ones(n),
              "themes": gold[:, 2:], "themes_mask": np.ones(n)}
    return logits, labels


def test_fit_calibration_cools_over_confident_logits():
    calibration, thresholds = fit_calibration(*calibration_data(scale=4.0))
    for key in ("sentiment", "complaint", "churn_intent"):
        assert 2.5 < calibration[key] < 6.0, key
    assert len(calibration["themes"]) == N_THEMES
    assert all(2.5 < t < 6.0 for t in calibration["themes"])
    assert set(thresholds) == {"complaint", "churn_intent", *SCHEMA.theme_keys}
    assert all(THRESHOLDS[0] <= t <= THRESHOLDS[-1] for t in thresholds.values())


def test_fit_calibration_warms_under_confident_logits():
    calibration, _ = fit_calibration(*calibration_data(scale=0.4))
    for key in ("sentiment", "complaint", "churn_intent"):
        assert calibration[key] < 0.7, key


def test_a_label_without_positives_keeps_temperature_one_and_threshold_half():
    logits, labels = calibration_data(scale=1.0, n=300)
    labels["themes"][:, 3] = 0.0
    labels["complaint_mask"][:] = 0  # no complaint labels at all
    calibration, thresholds = fit_calibration(logits, labels)
    assert calibration["themes"][3] == 1.0
    assert thresholds[SCHEMA.theme_keys[3]] == 0.5
    assert calibration["complaint"] == 1.0 and thresholds["complaint"] == 0.5


def _two_domains(b_positives: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Domain a: 300 positives at 0.8, 600 negatives at 0.5; domain b: its positives at 0.45,
    60 negatives at 0.2. Pooled F1 wants a threshold above 0.5; b wants one below 0.45."""
    probs = np.r_[np.full(300, 0.8), np.full(600, 0.5), np.full(b_positives, 0.45),
                  np.full(60, 0.2)]
    gold = np.r_[np.ones(300), np.zeros(600), np.ones(b_positives), np.zeros(60)]
    domains = np.array(["a"] * 900 + ["b"] * (b_positives + 60))
    return probs, gold, domains


def test_domain_balanced_thresholds_give_a_small_domain_an_equal_say():
    from training.metrics import _best_threshold

    probs, gold, domains = _two_domains(40)
    assert _best_threshold(probs, gold) > 0.5
    assert _best_threshold(probs, gold, domains) <= 0.45
    # a domain with too few positives to fit on does not count: pooled F1 again
    probs, gold, domains = _two_domains(5)
    assert _best_threshold(probs, gold, domains) == _best_threshold(probs, gold) > 0.5


# --- config ------------------------------------------------------------------------------

def test_tiny_yaml_loads_as_a_finetune_config():
    config = load_config(TINY_YAML)
    assert isinstance(config, FineTuneConfig)
    assert config.encoder_config["hidden_size"] == 32
    assert config.max_train_rows == 300 and config.epochs == 2
    assert config.task_weights == dict.fromkeys(TASK_KEYS, 1.0)
    assert config.fingerprint() == load_config(TINY_YAML).fingerprint()
    moved = FineTuneConfig(**{**config.to_dict(), "model_dir": "elsewhere",
                              "num_threads": 1})
    assert moved.fingerprint() == config.fingerprint()
    assert FineTuneConfig(**{**config.to_dict(), "lr": 2e-3}).fingerprint() != \
        config.fingerprint()


def test_task_weights_default_to_one_for_unnamed_tasks():
    assert FineTuneConfig(task_weights={"themes": 0.5}).task_weights == {
        "sentiment": 1.0, "complaint": 1.0, "themes": 0.5, "churn_intent": 1.0}


@pytest.mark.parametrize("change, message", [
    ({"kind": "tfidf-logreg"}, "kind must be 'multitask-transformer'"),
    ({"task_weights": {"topic": 1.0}}, r"unknown task\(s\) \['topic'\]"),
    ({"task_weights": {"themes": -1.0}}, "task_weights must be numbers >= 0"),
    ({"batch_size": 0}, "batch_size must be an integer >= 1, got 0"),
    ({"epochs": 1.5}, "epochs must be an integer >= 1, got 1.5"),
    ({"max_length": 4}, r"max_length must be in \[8, 512\], got 4"),
    ({"max_length": 1024}, "max_length must be in"),
    ({"patience": -1}, "patience must be an integer >= 0"),
    ({"lr": 0.0}, r"lr must be in \(0, 1\), got 0.0"),
    ({"head_lr": 1.5}, "head_lr must be in"),
    ({"dropout": 1.0}, r"dropout must be in \[0, 1\)"),
    ({"warmup_ratio": -0.1}, "warmup_ratio must be in"),
    ({"max_pos_weight": 0.5}, "max_pos_weight must be >= 1"),
    ({"max_train_rows": 5}, "max_train_rows must be null or >= 10, got 5"),
    ({"airline_test_size": 1.0}, "airline_test_size must be in"),
    ({"encoder_config": "bert-tiny"}, "encoder_config must be a mapping"),
])
def test_bad_finetune_values_raise_config_errors_naming_them(change, message):
    with pytest.raises(ConfigError, match=message):
        FineTuneConfig(**change)


def test_yaml_exponent_without_a_dot_is_read_as_a_number_and_bools_are_refused(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(TINY_YAML.read_text(encoding="utf-8").replace("lr: 1.0e-3\n", "lr: 1e-3\n", 1),
                    encoding="utf-8")
    assert "lr: 1e-3" in path.read_text(encoding="utf-8")
    assert load_config(path).lr == pytest.approx(1e-3)
    with pytest.raises(ConfigError, match="epochs must be an integer, got True"):
        FineTuneConfig(epochs=True)
    with pytest.raises(ConfigError, match="lr must be a number, got 'fast'"):
        FineTuneConfig(lr="fast")


def write_yaml(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_load_config_rejects_unknown_options_and_bad_values_of_a_finetune_config(tmp_path):
    tiny = yaml.safe_load(TINY_YAML.read_text(encoding="utf-8"))
    with pytest.raises(ConfigError, match=r"unknown option\(s\) \['batchsize'\]"):
        load_config(write_yaml(tmp_path, {**tiny, "batchsize": 8}))
    with pytest.raises(ConfigError, match=r"unknown option\(s\) \['cv_folds'\]"):
        load_config(write_yaml(tmp_path, {**tiny, "cv_folds": 3}))  # a baseline option
    with pytest.raises(ConfigError, match="epochs must be an integer >= 1"):
        load_config(write_yaml(tmp_path, {**tiny, "epochs": 0}))
    with pytest.raises(ConfigError, match=r"unknown kind 'transformer'"):
        load_config(write_yaml(tmp_path, {**tiny, "kind": "transformer"}))


# --- the saved network and the classifier -----------------------------------------------

def logits_of(net, tok, texts=TEXTS) -> dict[str, torch.Tensor]:
    batch = tok(texts, padding=True, truncation=True, max_length=32, return_tensors="pt")
    with torch.inference_mode():
        return net(**batch)


@pytest.fixture
def copy_dir(tiny_model_dir, tmp_path) -> Path:
    return Path(shutil.copytree(tiny_model_dir, tmp_path / "model"))


def test_build_network_is_deterministic_per_seed_and_has_the_schemas_heads(tiny_network,
                                                                           tiny_tokenizer):
    twin, other = build_tiny_network(TINY_SEED), build_tiny_network(TINY_SEED + 1)
    out, out_twin, out_other = (logits_of(n, tiny_tokenizer)
                                for n in (tiny_network, twin, other))
    assert out["sentiment"].shape == (len(TEXTS), N_SENT)
    assert out["complaint"].shape == (len(TEXTS),)
    assert out["themes"].shape == (len(TEXTS), N_THEMES)
    assert out["churn_intent"].shape == (len(TEXTS),)
    assert all(torch.equal(out[k], out_twin[k]) for k in out)
    assert not torch.allclose(out["themes"], out_other["themes"])


def test_padding_does_not_change_a_texts_logits(tiny_network, tiny_tokenizer):
    alone = logits_of(tiny_network, tiny_tokenizer, [TEXTS[1]])
    # TEXTS[1] padded to TEXTS[0]'s length
    padded = logits_of(tiny_network, tiny_tokenizer, TEXTS)
    for key in alone:
        assert torch.allclose(alone[key][0], padded[key][1], atol=1e-5), key


def test_save_and_load_network_give_identical_logits(tiny_network, tiny_tokenizer,
                                                     tiny_model_dir):
    assert {HEADS_FILE, HEADS_CONFIG, ENCODER_DIR} <= {p.name for p in tiny_model_dir.iterdir()}
    assert not any(k.startswith("encoder.") for k in load_file(str(tiny_model_dir / HEADS_FILE)))
    loaded, loaded_tok = load_network(tiny_model_dir, SCHEMA)
    assert not loaded.training
    assert loaded.dropout.p == pytest.approx(TINY_DROPOUT)
    before, after = logits_of(tiny_network, tiny_tokenizer), logits_of(loaded, loaded_tok)
    for key in before:
        assert torch.equal(before[key], after[key]), key


def test_classifier_loads_a_folder_and_predicts_the_same_twice(tiny_network, tiny_tokenizer,
                                                               tiny_model_dir):
    first = ComplaintClassifier.load(tiny_model_dir)
    second = load_classifier(tiny_model_dir)
    assert isinstance(second, ComplaintClassifier)
    p1, p2 = first.predict_proba(TEXTS), second.predict_proba(TEXTS)
    for key in p1:
        assert np.array_equal(p1[key], p2[key]), key
    # ... and the same as the network it was saved from, under the saved calibration
    fresh = ComplaintClassifier(tiny_network, tiny_tokenizer, TINY_META)
    p3 = fresh.predict_proba(TEXTS)
    for key in p1:
        np.testing.assert_allclose(p1[key], p3[key], atol=1e-6)


def test_classifier_applies_its_temperatures_and_thresholds(tiny_model_dir):
    classifier = ComplaintClassifier.load(tiny_model_dir)
    logits, probs = classifier.logits(TEXTS), classifier.predict_proba(TEXTS)
    np.testing.assert_allclose(probs["complaint"], 1 / (1 + np.exp(-logits["complaint"] / 0.5)),
                               rtol=1e-5)
    temps = np.asarray(TINY_META["calibration"]["themes"])
    np.testing.assert_allclose(probs["themes"], 1 / (1 + np.exp(-logits["themes"] / temps)),
                               rtol=1e-5)
    np.testing.assert_allclose(probs["sentiment"].sum(axis=1), 1.0, rtol=1e-6)
    assert classifier.thresholds["complaint"] == 0.3 and classifier.thresholds["billing"] == 0.2
    assert classifier.thresholds["waiting"] == 0.5  # not in meta: the default
    predictions = classifier.predict(TEXTS, keys=[("t", str(i)) for i in range(len(TEXTS))])
    assert [p.post_id for p in predictions] == [str(i) for i in range(len(TEXTS))]
    assert predictions[0].complaint == pytest.approx(float(probs["complaint"][0]))
    assert set(predictions[0].themes) == set(SCHEMA.theme_keys)
    assert all(p.model_version == TINY_META["model_version"] for p in predictions)
    assert classifier.predict([]) == []
    with pytest.raises(ValueError, match="2 texts but 1 keys"):
        classifier.predict(["a", "b"], keys=[("t", "1")])


def test_batched_logits_equal_each_text_run_alone_without_padding(tiny_network, tiny_tokenizer,
                                                                  tiny_model_dir):
    """Length-sorted, dynamically padded batches give what one unpadded text at a time gives,
    in the order of the input."""
    classifier = ComplaintClassifier.load(tiny_model_dir, batch_size=2)
    texts = [*TEXTS, "the flight was late by 3 hours and nobody cared " * 4]  # truncated
    batched = classifier.logits(texts)
    for i, text in enumerate(texts):
        alone = logits_of(tiny_network, tiny_tokenizer, [normalize_text(text)])
        for key, values in alone.items():
            np.testing.assert_allclose(batched[key][i], values[0].numpy(), atol=1e-5,
                                       err_msg=f"{key} of text {i}")


def test_predictions_do_not_depend_on_batch_size_or_order(tiny_model_dir):
    small = ComplaintClassifier.load(tiny_model_dir, batch_size=2)
    large = ComplaintClassifier.load(tiny_model_dir)
    reversed_probs = large.predict_proba(TEXTS[::-1])
    small_probs, large_probs = small.predict_proba(TEXTS), large.predict_proba(TEXTS)
    for key in large_probs:
        np.testing.assert_allclose(small_probs[key], large_probs[key], atol=1e-5)
        np.testing.assert_allclose(reversed_probs[key][::-1], large_probs[key], atol=1e-5)


@pytest.mark.parametrize("edit, message", [
    (lambda s: s.update(themes=s["themes"][:-1]), "themes"),
    (lambda s: s.update(version="taxonomy.v2"), "version 'taxonomy.v2'"),
    (lambda s: s.update(sentiments=["negative", "positive"]), "sentiments"),
    (lambda s: s.update(themes=s["themes"][::-1]), "themes"),
])
def test_a_model_with_another_label_schema_is_refused(copy_dir, edit, message):
    schema = json.loads((copy_dir / "schema.json").read_text(encoding="utf-8"))
    edit(schema)
    (copy_dir / "schema.json").write_text(json.dumps(schema), encoding="utf-8")
    with pytest.raises(SchemaMismatchError, match=message):
        load_classifier(copy_dir)
    with pytest.raises(SchemaMismatchError, match=message):
        ComplaintClassifier.load(copy_dir)


def test_reworded_theme_definitions_still_load(copy_dir):
    schema = json.loads((copy_dir / "schema.json").read_text(encoding="utf-8"))
    schema["themes"][0]["definition"] = "reworded"
    (copy_dir / "schema.json").write_text(json.dumps(schema), encoding="utf-8")
    assert isinstance(load_classifier(copy_dir), ComplaintClassifier)


def test_heads_that_do_not_fit_the_schema_are_refused(copy_dir):
    fewer = LabelSchema(themes=SCHEMA.themes[:-1])
    with pytest.raises(ValueError, match="heads have 3 sentiments and 9 themes; the schema has "
                                         "3 and 8"):
        load_network(copy_dir, fewer)
    heads = json.loads((copy_dir / HEADS_CONFIG).read_text(encoding="utf-8"))
    (copy_dir / HEADS_CONFIG).write_text(json.dumps({**heads, "themes": 8}), encoding="utf-8")
    with pytest.raises(ValueError, match="8 themes"):
        load_classifier(copy_dir)


def test_a_heads_file_missing_a_head_is_refused(copy_dir):
    state = load_file(str(copy_dir / HEADS_FILE))
    save_file({k: v for k, v in state.items() if not k.startswith("churn_intent.")},
              str(copy_dir / HEADS_FILE))
    with pytest.raises(ValueError, match="heads file does not fit.*churn_intent.weight"):
        load_network(copy_dir, SCHEMA)


def test_a_heads_file_of_another_shape_is_refused(copy_dir):
    state = load_file(str(copy_dir / HEADS_FILE))
    state["themes.weight"] = state["themes.weight"][:-1].contiguous()
    state["themes.bias"] = state["themes.bias"][:-1].contiguous()
    save_file(state, str(copy_dir / HEADS_FILE))
    with pytest.raises((ValueError, RuntimeError), match="themes"):
        load_network(copy_dir, SCHEMA)


def test_classifier_load_refuses_another_kind(copy_dir):
    meta = json.loads((copy_dir / "meta.json").read_text(encoding="utf-8"))
    (copy_dir / "meta.json").write_text(json.dumps({**meta, "kind": "tfidf-logreg"}),
                                        encoding="utf-8")
    with pytest.raises(ModelLoadError, match="not a 'multitask-transformer'"):
        ComplaintClassifier.load(copy_dir)
    (copy_dir / "meta.json").write_text(json.dumps({**meta, "kind": "svm"}), encoding="utf-8")
    with pytest.raises(ModelLoadError, match="unknown model kind 'svm'"):
        load_classifier(copy_dir)
