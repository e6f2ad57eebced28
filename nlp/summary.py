"""Per-brand roll-up of predictions: posts, share negative, share complaints, top reasons.

This is what the product reports until the ex-customer-at-risk score (``nlp/risk.py``,
issue [C]) exists; it counts posts, not customers.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
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


class BrandTally:
    """Running per-brand counts, so a summary needs no more memory than its brands.

    Tallies add up (``merge``) and round-trip through plain dicts (``to_dict`` /
    ``from_dict``), so a resumed batch run can carry its earlier chunks' counts.
    """

    def __init__(self, complaint_threshold: float = 0.5, theme_threshold: float = 0.5,
                 per_theme: Mapping[str, float] | None = None):
        self.complaint_threshold = complaint_threshold
        self.theme_threshold = theme_threshold
        self.per_theme = dict(per_theme or {})
        self.counts: dict[str, dict] = {}

    def _brand(self, brand: str) -> dict:
        return self.counts.setdefault(
            brand, {"posts": 0, "negative": 0, "complaints": 0, "themes": {}, "model_version": ""})

    def add(self, brand: str | None, prediction: Prediction) -> None:
        entry = self._brand(brand or NO_BRAND)
        entry["posts"] += 1
        entry["negative"] += prediction.sentiment == "negative"
        entry["model_version"] = prediction.model_version
        if prediction.complaint >= self.complaint_threshold:
            entry["complaints"] += 1
            for key, prob in prediction.themes.items():
                if prob >= self.per_theme.get(key, self.theme_threshold):
                    entry["themes"][key] = entry["themes"].get(key, 0) + 1

    def merge(self, other: BrandTally) -> None:
        for brand, theirs in other.counts.items():
            ours = self._brand(brand)
            for key in ("posts", "negative", "complaints"):
                ours[key] += theirs[key]
            for theme, count in theirs["themes"].items():
                ours["themes"][theme] = ours["themes"].get(theme, 0) + count
            ours["model_version"] = theirs["model_version"] or ours["model_version"]

    def to_dict(self) -> dict:
        return {"complaint_threshold": self.complaint_threshold,
                "theme_threshold": self.theme_threshold, "per_theme": self.per_theme,
                "counts": self.counts}

    @classmethod
    def from_dict(cls, data: dict) -> BrandTally:
        tally = cls(data["complaint_threshold"], data["theme_threshold"], data.get("per_theme"))
        tally.counts = data["counts"]
        return tally

    def summaries(self, top_n: int = 3) -> list[BrandSummary]:
        """Per-brand summaries, most complaints first."""
        out = []
        for brand, entry in self.counts.items():
            themes = Counter(entry["themes"])
            complaints = entry["complaints"]
            out.append(BrandSummary(
                brand=brand,
                posts=entry["posts"],
                negative_share=entry["negative"] / entry["posts"],
                complaint_share=complaints / entry["posts"],
                top_reasons=tuple((key, count / complaints)
                                  for key, count in themes.most_common(top_n)),
                model_version=entry["model_version"],
            ))
        return sorted(out, key=lambda s: (-s.complaint_share, s.brand))


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
    tally = BrandTally(complaint_threshold, theme_threshold)
    for post, prediction in zip(posts, predictions, strict=True):
        if post.key != (prediction.source, prediction.post_id):
            raise ValueError(
                f"prediction for {(prediction.source, prediction.post_id)} paired with post "
                f"{post.key}; pass predictions in the order of the posts"
            )
        tally.add(post.brand, prediction)
    return tally.summaries(top_n)
