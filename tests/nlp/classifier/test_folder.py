"""The model folder format: one writer, one reader, and the bytes existing models hold.

Models trained before this module existed (and the registered champion) must keep
loading, so the file names and the JSON layout are pinned here, not only round-tripped.
"""

import json
from pathlib import Path

import pytest

from nlp.classifier import folder
from nlp.taxonomy import SCHEMA, LabelSchema, SchemaMismatchError

META = {"kind": folder.TRANSFORMER_KIND, "name": "folder-test",
        "model_version": "folder-test-0", "max_length": 32, "run_id": None,
        "metrics": {"dev_score": 0.5}, "thresholds": {"complaint": 0.3}}


def canonical_meta(meta: dict) -> str:
    """``meta.json`` as every writer has always written it."""
    return json.dumps(meta, indent=2, sort_keys=True) + "\n"


def test_write_then_read_gives_back_the_meta_and_the_schema(tmp_path):
    model_dir = tmp_path / "new" / "model"  # made if missing
    folder.write_model_meta(model_dir, META, SCHEMA)
    meta, schema = folder.read_model_meta(model_dir)
    assert meta == META
    assert schema == SCHEMA
    assert sorted(p.name for p in model_dir.iterdir()) == ["meta.json", "schema.json"]


def test_the_files_hold_the_bytes_existing_models_hold(tmp_path):
    folder.write_model_meta(tmp_path, META, SCHEMA)
    assert (folder.META_FILE, folder.SCHEMA_FILE) == ("meta.json", "schema.json")
    assert (tmp_path / "meta.json").read_text(encoding="utf-8") == canonical_meta(META)
    assert (tmp_path / "schema.json").read_text(encoding="utf-8") == SCHEMA.to_json() + "\n"


def test_values_json_cannot_hold_are_written_as_text(tmp_path):
    folder.write_model_meta(tmp_path, {**META, "encoder_dir": Path("/models/minilm")}, SCHEMA)
    assert folder.read_model_meta(tmp_path)[0]["encoder_dir"] == "/models/minilm"


def test_a_meta_without_a_known_kind_is_not_written(tmp_path):
    for meta in ({k: v for k, v in META.items() if k != "kind"}, {**META, "kind": "svm"}):
        with pytest.raises(ValueError, match="meta\\['kind'\\] must be one of"):
            folder.write_model_meta(tmp_path, meta, SCHEMA)
    assert not (tmp_path / folder.META_FILE).exists()


@pytest.mark.parametrize("missing", [folder.META_FILE, folder.SCHEMA_FILE])
def test_a_folder_missing_a_file_is_refused_naming_it(tmp_path, missing):
    folder.write_model_meta(tmp_path, META, SCHEMA)
    (tmp_path / missing).unlink()
    with pytest.raises(folder.ModelLoadError, match=f"not a model folder: {missing} is missing"):
        folder.read_model_meta(tmp_path)


def test_an_empty_or_absent_folder_is_refused(tmp_path):
    for model_dir in (tmp_path, tmp_path / "absent"):
        with pytest.raises(folder.ModelLoadError, match="meta.json is missing"):
            folder.read_model_meta(model_dir)


def test_a_folder_with_another_label_schema_is_refused(tmp_path):
    other = LabelSchema(themes=SCHEMA.themes[:-1])
    folder.write_model_meta(tmp_path, META, other)
    with pytest.raises(SchemaMismatchError, match="themes"):
        folder.read_model_meta(tmp_path)


def test_both_kinds_write_their_folders_through_the_one_writer(tiny_trained, tiny_model_dir):
    """The trained baseline and the saved transformer hold the canonical bytes."""
    for model_dir, kind in ((Path(tiny_trained["result"].model_dir), folder.BASELINE_KIND),
                            (tiny_model_dir, folder.TRANSFORMER_KIND)):
        meta, _ = folder.read_model_meta(model_dir)
        assert meta["kind"] == kind
        written = {name: (model_dir / name).read_text(encoding="utf-8")
                   for name in (folder.META_FILE, folder.SCHEMA_FILE)}
        assert written == {folder.META_FILE: canonical_meta(meta),
                           folder.SCHEMA_FILE: SCHEMA.to_json() + "\n"}
