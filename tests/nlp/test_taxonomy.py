import dataclasses

import pytest

from nlp.taxonomy import (
    SCHEMA,
    SENTIMENTS,
    THEME_KEYS,
    LabelSchema,
    SchemaMismatchError,
    check_schema,
)


def test_taxonomy_v1_has_the_nine_themes_and_three_sentiments():
    assert THEME_KEYS == ("waiting", "ivr_menu", "not_known", "unresolved", "staff_attitude",
                          "self_service", "billing", "product_failure", "marketing_spam")
    assert SENTIMENTS == ("negative", "neutral", "positive")
    assert all(t.definition for t in SCHEMA.themes)


def test_schema_round_trips_through_json():
    restored = LabelSchema.from_json(SCHEMA.to_json())
    assert restored == SCHEMA
    check_schema(restored)
    assert restored.sentiment_label2id == {"negative": 0, "neutral": 1, "positive": 2}


def test_changed_theme_keys_are_an_error_not_a_silent_mismatch():
    other = dataclasses.replace(SCHEMA, themes=SCHEMA.themes[:-1])
    with pytest.raises(SchemaMismatchError, match="marketing_spam"):
        check_schema(other)


def test_reworded_definitions_are_accepted():
    reworded = dataclasses.replace(
        SCHEMA, themes=tuple(dataclasses.replace(t, definition="x") for t in SCHEMA.themes))
    check_schema(reworded)


def test_malformed_schema_json_is_a_clear_error():
    with pytest.raises(SchemaMismatchError, match="malformed"):
        LabelSchema.from_dict({"version": "taxonomy.v1"})
