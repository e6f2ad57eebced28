"""Edges of the risk score found in review: undated files, huge windows, brand independence,
bounded bootstrap memory, repeated complaints over time, and file outputs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from nlp.risk import RiskConfig, RiskPost, bootstrap_means, parse_window, score_brands

T0 = datetime(2024, 5, 1, 12, tzinfo=UTC)


def _post(i, brand="Acme", author=None, at=None, complaint=0.8, text=None):
    return RiskPost(post_id=f"p{i}", brand=brand, author_id=author or f"u{i}", created_at=at,
                    p_complaint=complaint, p_positive=0.05, themes={}, churn_intent=None,
                    text=text)


def test_a_file_without_dates_gets_one_undated_window():
    windows, excluded = score_brands([_post(i) for i in range(5)], RiskConfig())
    [acme] = windows
    assert acme.risk.window_start is None and acme.risk.window_end is None
    assert acme.risk.customers == 5 and excluded.outside_windows == 0


@pytest.mark.parametrize("text", ["999999d", "1000000000d", "600w"])
def test_absurd_windows_are_refused_with_a_message(text):
    with pytest.raises(ValueError, match="longer than 3660 days"):
        parse_window(text)


def test_a_brands_figures_do_not_depend_on_the_other_brands():
    rng = np.random.default_rng(1)
    acme = [_post(i, "Acme", at=T0, complaint=float(rng.random())) for i in range(60)]
    other = [_post(100 + i, "Bolt", at=T0, complaint=float(rng.random())) for i in range(60)]
    alone, _ = score_brands(acme, RiskConfig(), None)
    together, _ = score_brands(acme + other, RiskConfig(), None)
    [a] = alone
    [b] = [w for w in together if w.risk.brand == "Acme"]
    assert (a.risk.ci_low, a.risk.ci_high) == (b.risk.ci_low, b.risk.ci_high)


def test_bootstrap_memory_is_chunked_without_changing_the_estimate():
    values = np.random.default_rng(0).random(5000)
    small = bootstrap_means(values, 1000, np.random.default_rng(3), max_cells=10_000)
    large = bootstrap_means(values, 1000, np.random.default_rng(3))
    assert len(small) == len(large) == 1000
    # Different chunking draws differently; both estimate the same sampling distribution.
    assert abs(small.std() - large.std()) < 0.15 * large.std()
    assert abs(small.mean() - values.mean()) < 3 * values.std() / np.sqrt(5000)


def test_the_same_complaint_posted_again_later_counts_but_a_repost_does_not():
    first = _post(1, author="ann", at=T0, text="still no refund")
    again_later = _post(2, author="ann", at=T0 + timedelta(days=8), text="still no refund")
    repost = _post(3, author="ann", at=T0, text="Still no  refund")  # same text, same time
    windows, excluded = score_brands([first, again_later, repost], RiskConfig(),
                                     timedelta(days=7))
    assert excluded.duplicate == 1
    assert sorted(w.posts for w in windows) == [1, 1]  # one post in each week
