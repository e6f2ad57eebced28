"""Per-brand roll-up of predictions: posts, share negative, share complaints, top reasons.

This is what the product reports until the ex-customer-at-risk score (``nlp/risk.py``,
issue [C]) exists; it counts posts, not customers.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from nlp.types import Post, Prediction

NO_BRAND = "(no brand)"


@dataclass(frozen=True)
class BrandSummary:
    """A brand's chatter in numbers: how much, how negative, how many complaints, about what."""

    brand: str
    posts: int
    negative_share: float
    complaint_share: float
    # (theme, share of the brand's predicted complaints that name it), most common first
    top_reasons: tuple[tuple[str, float], ...]
    model_version: str


def summarize_brands(posts: Sequence[Post], predictions: Sequence[Prediction],
                     complaint_threshold: float = 0.5, theme_threshold: float = 0.5,
                     top_n: int = 3) -> list[BrandSummary]:
    """Roll predictions up per brand, most complaints first.

    A post counts as a complaint when ``p(complaint) >= complaint_threshold``; a
    complaint names a theme when ``p(theme) >= theme_threshold``.

    Raises:
        ValueError: if posts and predictions do not pair up by ``(source, post_id)``.
    """
    if len(posts) != len(predictions):
        raise ValueError(f"got {len(posts)} posts but {len(predictions)} predictions")
    grouped: dict[str, list[Prediction]] = defaultdict(list)
    for post, prediction in zip(posts, predictions, strict=True):
        if post.key != (prediction.source, prediction.post_id):
            raise ValueError(
                f"prediction for {(prediction.source, prediction.post_id)} paired with post "
                f"{post.key}; pass predictions in the order of the posts"
            )
        grouped[post.brand or NO_BRAND].append(prediction)

    summaries = []
    for brand, preds in grouped.items():
        complaints = [p for p in preds if p.complaint >= complaint_threshold]
        themes = Counter(key for p in complaints for key, prob in p.themes.items()
                         if prob >= theme_threshold)
        summaries.append(BrandSummary(
            brand=brand,
            posts=len(preds),
            negative_share=sum(p.sentiment == "negative" for p in preds) / len(preds),
            complaint_share=len(complaints) / len(preds),
            top_reasons=tuple((key, count / len(complaints))
                              for key, count in themes.most_common(top_n)),
            model_version=preds[0].model_version,
        ))
    return sorted(summaries, key=lambda s: (-s.complaint_share, s.brand))
