"""The transformer engine on a tiny random BERT built from a config (no weights downloaded)."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from nlp.engine import EngineError, TransformerEngine, export_onnx  # noqa: E402

TEXTS = ["@united lost my bag", "thanks for the great flight!", "x",
         "the flight was late by 3 hours and nobody cared " * 4, "hold hold hold", "great"]


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("tinybert")
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",
             *"abcdefghijklmnopqrstuvwxyz0123456789!?.,@'",
             "the", "flight", "bag", "late", "thanks", "hold", "hours", "user", "http", "lost",
             "great", "worst", *("##" + c for c in "abcdefghijklmnopqrstuvwxyz0123456789")]
    (out / "vocab.txt").write_text("\n".join(words) + "\n")
    tokenizer = transformers.BertTokenizerFast(vocab_file=str(out / "vocab.txt"))
    torch.manual_seed(0)
    config = transformers.BertConfig(
        vocab_size=len(words), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=128, num_labels=3,
        id2label={0: "negative", 1: "neutral", 2: "positive"},
        label2id={"negative": 0, "neutral": 1, "positive": 2})
    model = transformers.BertForSequenceClassification(config)
    with torch.no_grad():  # make the head's outputs spread out, so comparisons mean something
        model.classifier.weight.mul_(50)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def _reference_logits(model_dir, texts):
    """One text at a time, no padding at all: what the engine must reproduce."""
    from nlp.text import normalize_text

    tokenizer = transformers.AutoTokenizer.from_pretrained(model_dir)
    model = transformers.AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
    with torch.inference_mode():
        return np.stack([model(**tokenizer(normalize_text(t), return_tensors="pt")).logits[0]
                         .numpy() for t in texts])


def test_sorted_dynamic_padding_gives_the_unpadded_results_in_input_order(tiny_model_dir):
    engine = TransformerEngine(tiny_model_dir, batch_size=4)
    np.testing.assert_allclose(engine.logits(TEXTS), _reference_logits(tiny_model_dir, TEXTS),
                               atol=1e-5)
    probs = engine.predict_proba(TEXTS)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-6)
    assert engine.id2label == {0: "negative", 1: "neutral", 2: "positive"}


def test_onnx_export_matches_torch_and_int8_stays_close(tiny_model_dir):
    import onnxruntime as ort

    fp32 = export_onnx(tiny_model_dir, quantize=False)
    session = ort.InferenceSession(str(fp32), providers=["CPUExecutionProvider"])
    tokenizer = transformers.AutoTokenizer.from_pretrained(tiny_model_dir)
    batch = tokenizer(TEXTS, padding=True, return_tensors="np")
    onnx_logits = session.run(["logits"], {k: v.astype(np.int64) for k, v in batch.items()})[0]
    torch_engine = TransformerEngine(tiny_model_dir)
    with torch.inference_mode():
        expected = torch_engine.model(**tokenizer(TEXTS, padding=True, return_tensors="pt")
                                      ).logits.numpy()
    np.testing.assert_allclose(onnx_logits, expected, atol=1e-4)

    int8 = TransformerEngine(tiny_model_dir, backend="onnx")
    assert (tiny_model_dir / "onnx" / "model.int8.onnx").is_file()
    quantised = int8.predict_proba(TEXTS)
    assert np.abs(quantised - torch_engine.predict_proba(TEXTS)).max() < 0.1


def test_bad_configuration_is_a_clear_error(tmp_path, tiny_model_dir):
    with pytest.raises(EngineError, match="backend must be one of"):
        TransformerEngine(tiny_model_dir, backend="tensorrt")
    with pytest.raises(EngineError, match="config.json missing"):
        TransformerEngine(tmp_path)
