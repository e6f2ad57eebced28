import pytest

from nlp.summary import NO_BRAND, summarize_brands
from nlp.types import Post, Prediction


def _pred(post_id, sentiment="negative", complaint=0.9, themes=None):
    probs = {"negative": 0.1, "neutral": 0.1, "positive": 0.1}
    probs[sentiment] = 0.8
    return Prediction("s", post_id, sentiment, probs, complaint, themes or {}, None, "v1")


def test_summary_per_brand_counts_shares_and_reasons():
    posts = [Post("s", str(i), "t", brand=b) for i, b in
             enumerate(["A", "A", "A", "A", "B", None])]
    preds = [
        _pred("0", themes={"waiting": 0.9, "billing": 0.2}),
        _pred("1", themes={"waiting": 0.7, "billing": 0.6}),
        _pred("2", sentiment="positive", complaint=0.1, themes={"billing": 0.99}),
        _pred("3", sentiment="neutral", complaint=0.2),
        _pred("4", sentiment="positive", complaint=0.1),
        _pred("5"),
    ]
    summaries = {s.brand: s for s in summarize_brands(posts, preds)}
    a = summaries["A"]
    assert (a.posts, a.negative_share, a.complaint_share) == (4, 0.5, 0.5)
    # Reasons count only predicted complaints: post 2's billing does not count.
    assert a.top_reasons == (("waiting", 1.0), ("billing", 0.5))
    assert summaries["B"].complaint_share == 0.0 and summaries["B"].top_reasons == ()
    assert summaries[NO_BRAND].posts == 1
    assert [s.brand for s in summarize_brands(posts, preds)][0] == NO_BRAND  # most complaints


def test_summary_refuses_predictions_out_of_order():
    posts = [Post("s", "1", "a", brand="A"), Post("s", "2", "b", brand="A")]
    with pytest.raises(ValueError, match="order of the posts"):
        summarize_brands(posts, [_pred("2"), _pred("1")])
