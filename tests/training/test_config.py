from pathlib import Path

import pytest

from training.config import BaselineConfig, ConfigError, load_config

CONFIGS = Path(__file__).resolve().parents[2] / "training" / "configs"


@pytest.mark.parametrize("name", ["baseline.yaml", "tiny-baseline.yaml"])
def test_shipped_configs_load(name):
    config = load_config(CONFIGS / name)
    assert config.to_dict()["word_ngrams"] == list(config.word_ngrams)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"cv_folds": 1}, "cv_folds must be an integer >= 2, got 1"),
        ({"test_size": 1.5}, "test_size must be in"),
        ({"char_ngrams": (5, 2)}, "char_ngrams must be"),
        ({"C": 0}, "C must be > 0"),
        ({"class_weight": "auto"}, "class_weight"),
        ({"subsample": 5}, "subsample must be"),
        ({"kind": "bert"}, "kind must be"),
    ],
)
def test_bad_values_are_named(options, message):
    with pytest.raises(ConfigError, match=message):
        BaselineConfig(**options)


def test_unknown_options_and_missing_files_are_clear(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("name: x\nlearning_rate: 0.1\n")
    with pytest.raises(ConfigError, match=r"unknown option\(s\) \['learning_rate'\]"):
        load_config(path)
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")
    path.write_text("- a list\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(path)


def test_fingerprint_ignores_where_the_model_goes_but_not_what_it_is():
    a = BaselineConfig()
    assert a.fingerprint() == BaselineConfig(model_dir="elsewhere").fingerprint()
    assert a.fingerprint() != BaselineConfig(C=1.0).fingerprint()


@pytest.mark.parametrize(("weight", "message"), [
    (-0.1, "weak_label_weight must be in"), (1.5, "weak_label_weight must be in"),
    (None, "weak_label_weight must be a number, got None"),
    ("abc", "weak_label_weight must be a number")])
def test_weak_label_weight_outside_0_1_or_not_a_number_is_refused(weight, message):
    from training.config import FineTuneConfig

    with pytest.raises(ConfigError, match=message):
        FineTuneConfig(weak_label_weight=weight)


def test_a_required_number_left_empty_in_yaml_is_named():
    from training.config import FineTuneConfig

    with pytest.raises(ConfigError, match="teacher_mix must be a number, got None"):
        FineTuneConfig(teacher_mix=None)
