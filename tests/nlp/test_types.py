from datetime import UTC, datetime, timedelta, timezone

import pytest

from nlp.types import BrandRisk, Post, Prediction

PROBS = {"negative": 0.7, "neutral": 0.2, "positive": 0.1}


def test_post_requires_utc_times():
    Post("x", "1", "hi", created_at=datetime(2015, 2, 24, tzinfo=UTC))
    with pytest.raises(ValueError, match="UTC"):
        Post("x", "1", "hi", created_at=datetime(2015, 2, 24))
    with pytest.raises(ValueError, match="UTC"):
        Post("x", "1", "hi", created_at=datetime(2015, 2, 24, tzinfo=timezone(timedelta(hours=-8))))


def test_post_requires_ids():
    with pytest.raises(ValueError, match="post_id"):
        Post("x", "", "hi")


def test_post_from_record_parses_iso_utc():
    post = Post.from_record({"source": "s", "post_id": 5, "text": "t",
                             "created_at": "2015-02-24T19:35:00Z", "brand": "Delta"})
    assert post.key == ("s", "5")
    assert post.created_at == datetime(2015, 2, 24, 19, 35, tzinfo=UTC)


def test_prediction_validates_probabilities_and_labels():
    Prediction("s", "1", "negative", PROBS, 0.9, {"waiting": 0.3}, None, "v1")
    with pytest.raises(ValueError, match="complaint"):
        Prediction("s", "1", "negative", PROBS, 1.2, {}, None, "v1")
    with pytest.raises(ValueError, match="sentiment must be one of"):
        Prediction("s", "1", "angry", PROBS, 0.5, {}, None, "v1")
    with pytest.raises(ValueError, match="themes"):
        Prediction("s", "1", "negative", PROBS, 0.5, {"waiting": -0.1}, None, "v1")


def test_brand_risk_share_must_lie_in_its_interval():
    start = datetime(2015, 2, 16, tzinfo=UTC)
    end = start + timedelta(days=7)
    BrandRisk("Delta", start, end, 10, 0.2, 0.1, 0.3, 2.0, None, {}, "risk.v1")
    with pytest.raises(ValueError, match="outside its interval"):
        BrandRisk("Delta", start, end, 10, 0.5, 0.1, 0.3, 5.0, None, {}, "risk.v1")
