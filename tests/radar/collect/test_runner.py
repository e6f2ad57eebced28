"""The collection runner with an in-memory source: resume, retries, waits, budget, since, brand."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from nlp.types import Post
from radar.collect.base import (
    AuthError,
    CollectError,
    ConfigError,
    Page,
    Query,
    RateLimited,
    RejectedItem,
    Source,
    TransientError,
)
from radar.collect.runner import CollectProgress, RunnerConfig, collect_posts
from radar.store import open_store

T0 = datetime(2024, 6, 1, tzinfo=UTC)


def _posts(start: int, count: int, source: str = "fake", step_minutes: int = 1,
           **fields) -> list[Post]:
    """Posts numbered start..start+count-1, post i created at T0 + i minutes."""
    return [Post(source=source, post_id=f"p{i}", text=f"parcel {i} never arrived, no refund",
                 created_at=T0 + timedelta(minutes=i * step_minutes), raw={"id": i}, **fields)
            for i in range(start, start + count)]


class FakeSource:
    """Serves fixed pages by page number; ``failures`` are raised, in order, before pages.

    ``failures`` maps a call number (0-based, over the source's lifetime) to the exception
    that call raises instead of answering.
    """

    name = "fake"

    def __init__(self, pages: Sequence[Sequence[Post]], newest_first: bool = False,
                 failures: dict[int, BaseException] | None = None,
                 waits: Sequence[float] = ()):
        self.pages = [tuple(page) for page in pages]
        self.newest_first = newest_first
        self.failures = dict(failures or {})
        self.waits = list(waits)
        self.calls: list[tuple[Query, dict | None]] = []

    def fetch_page(self, query: Query, checkpoint):
        number = len(self.calls)
        self.calls.append((query, None if checkpoint is None else dict(checkpoint)))
        if number in self.failures:
            raise self.failures[number]
        index = checkpoint["page"] if checkpoint else 0
        more = index + 1 < len(self.pages)
        wait = self.waits[index] if index < len(self.waits) else 0.0
        return Page(self.pages[index], {"page": index + 1} if more else None, wait=wait)

    def requested_pages(self) -> list[int]:
        return [0 if cp is None else cp["page"] for _, cp in self.calls]


@pytest.fixture
def store(tmp_path):
    with open_store(tmp_path / "radar.db") as opened:
        yield opened


def _ids(store) -> list[str]:
    return sorted((p.post_id for p in store.iter_posts()), key=lambda i: int(i[1:]))


def _expected(n: int) -> list[str]:
    return [f"p{i}" for i in range(n)]


QUERY = Query("acme refund", brand="Acme")
NO_WAIT = RunnerConfig(max_retries=3, backoff_base_s=1.0, backoff_cap_s=8.0)


def test_the_fake_source_satisfies_the_protocol():
    assert isinstance(FakeSource([]), Source)


def test_multi_page_collection_runs_to_done(store):
    source = FakeSource([_posts(0, 3), _posts(3, 3), _posts(6, 2)])
    progress: list[CollectProgress] = []
    result = collect_posts(source, QUERY, store, sleep=pytest.fail, progress=progress.append)
    assert (result.status, result.done, result.resumed) == ("done", True, False)
    assert (result.pages, result.requests, result.posts_new, result.posts_seen) == (3, 3, 8, 0)
    assert result.reason == "no more pages"
    assert source.requested_pages() == [0, 1, 2]
    assert _ids(store) == _expected(8)
    assert [p.pages for p in progress] == [1, 2, 3]
    checkpoint = store.get_checkpoint("fake", QUERY.key)
    assert (checkpoint.state, checkpoint.done) == (None, True)
    assert checkpoint.high_water == T0 + timedelta(minutes=7)
    run = store.run(result.run_id)
    assert (run.status, run.pages, run.requests, run.posts_new) == (
        "done", 3, 3, 8)


def test_max_pages_pauses_and_the_next_call_resumes_from_the_checkpoint(store):
    source = FakeSource([_posts(0, 2), _posts(2, 2), _posts(4, 2), _posts(6, 2)])
    config = RunnerConfig(max_pages=2)
    first = collect_posts(source, QUERY, store, config=config)
    assert (first.status, first.done, first.resumed, first.pages) == ("paused", False, False, 2)
    assert "--max-pages" in first.reason
    assert store.get_checkpoint("fake", QUERY.key).state == {"page": 2}
    assert _ids(store) == _expected(4)
    second = collect_posts(source, QUERY, store, config=config)
    assert (second.status, second.done, second.resumed) == ("done", True, True)
    assert (second.pages, second.posts_new, second.posts_seen) == (2, 4, 0)
    assert source.requested_pages() == [0, 1, 2, 3]  # nothing fetched twice
    assert _ids(store) == _expected(8)
    assert store.count_posts() == 8


def test_restart_ignores_the_checkpoint(store):
    source = FakeSource([_posts(0, 2), _posts(2, 2)])
    collect_posts(source, QUERY, store, config=RunnerConfig(max_pages=1))
    again = collect_posts(source, QUERY, store, restart=True)
    assert again.resumed is False
    assert source.requested_pages() == [0, 0, 1]
    assert (again.posts_new, again.posts_seen) == (2, 2)


def test_the_request_budget_stops_the_run_and_counts_retries(store):
    source = FakeSource([_posts(i * 2, 2) for i in range(5)],
                        failures={1: TransientError("HTTP 503")})
    result = collect_posts(source, QUERY, store, config=RunnerConfig(max_requests=3),
                           sleep=lambda s: None, rng=random.Random(0))
    assert (result.status, result.requests, result.pages, result.done) == ("paused", 3, 2,
                                                                          False)
    assert "request budget of 3" in result.reason
    assert len(source.calls) == 3
    assert store.run(result.run_id).requests == 3
    assert _ids(store) == _expected(4)


def test_429_retry_after_is_honoured_exactly(store):
    source = FakeSource([_posts(0, 2), _posts(2, 2)],
                        failures={1: RateLimited("HTTP 429", retry_after=17.5)})
    waits: list[float] = []
    progress: list[CollectProgress] = []
    result = collect_posts(source, QUERY, store, config=NO_WAIT, sleep=waits.append,
                           progress=progress.append)
    assert waits == [17.5]
    assert [p.waiting_s for p in progress if p.waiting_s] == [17.5]
    assert (result.status, result.requests, result.pages) == ("done", 3, 2)
    assert source.requested_pages() == [0, 1, 1]
    assert _ids(store) == _expected(4)


def test_backoff_grows_with_jitter_between_half_and_full_ceiling(store):
    failures = {i: TransientError(f"HTTP 502 #{i}") for i in range(5)}
    source = FakeSource([_posts(0, 2)], failures=failures)
    waits: list[float] = []
    config = RunnerConfig(max_retries=5, backoff_base_s=1.0, backoff_cap_s=8.0)
    result = collect_posts(source, QUERY, store, config=config, sleep=waits.append,
                           rng=random.Random(0))
    assert result.status == "done"
    assert len(waits) == 5
    ceilings = [1.0, 2.0, 4.0, 8.0, 8.0]  # doubling, then capped
    for wait, ceiling in zip(waits, ceilings, strict=True):
        assert ceiling / 2 <= wait <= ceiling
    assert waits[3] > waits[0] and waits[2] > waits[0]
    # jitter: not simply the half or the full ceiling, and reproducible from the seed
    assert any(w not in (c, c / 2) for w, c in zip(waits, ceilings, strict=True))
    rng = random.Random(0)
    assert waits == [config.backoff.delay(n, rng) for n in range(1, 6)]


def test_gives_up_after_max_retries_with_the_reason(store):
    failures = {i: TransientError(f"GET /search: HTTP 503 (attempt {i})") for i in range(10)}
    source = FakeSource([_posts(0, 2)], failures=failures)
    waits: list[float] = []
    result = collect_posts(source, QUERY, store, config=RunnerConfig(max_retries=2),
                           sleep=waits.append, rng=random.Random(0))
    assert result.status == "failed"
    assert result.done is False
    assert len(source.calls) == 3 and len(waits) == 2
    assert "gave up after 3 consecutive failed requests" in result.reason
    assert "HTTP 503 (attempt 2)" in result.reason
    run = store.run(result.run_id)
    assert (run.status, run.message, run.requests) == ("failed", result.reason, 3)
    assert store.count_posts() == 0


def test_a_success_resets_the_failure_count(store):
    # two failures, a page, two failures, a page: never three in a row
    failures = {0: TransientError("a"), 1: TransientError("b"),
                3: TransientError("c"), 4: TransientError("d")}
    source = FakeSource([_posts(0, 1), _posts(1, 1)], failures=failures)
    result = collect_posts(source, QUERY, store, config=RunnerConfig(max_retries=2),
                           sleep=lambda s: None, rng=random.Random(0))
    assert (result.status, result.pages, result.requests) == ("done", 2, 6)


def test_auth_error_is_raised_at_once_and_the_run_recorded_failed(store):
    source = FakeSource([_posts(0, 2), _posts(2, 2)],
                        failures={1: AuthError("HTTP 401; check MASTODON_TOKEN")})
    with pytest.raises(AuthError, match="MASTODON_TOKEN"):
        collect_posts(source, QUERY, store, sleep=pytest.fail)
    assert len(source.calls) == 2
    (run,) = store.stats()["runs"]
    assert run["status"] == "failed"
    assert "MASTODON_TOKEN" in run["message"]
    assert run["requests"] == 2
    assert _ids(store) == _expected(2)  # the page before stays


@pytest.mark.parametrize("error", [CollectError("GET /search: HTTP 400 (bad query)"),
                                   ConfigError("option 'mode' must be one of: a, b")])
def test_a_refused_request_fails_without_retry(store, error):
    source = FakeSource([_posts(0, 2)], failures={0: error})
    result = collect_posts(source, QUERY, store, sleep=pytest.fail)
    assert (result.status, result.requests, result.done) == ("failed", 1, False)
    assert result.reason == str(error)
    assert len(source.calls) == 1
    assert store.run(result.run_id).status == "failed"


def test_retry_after_longer_than_max_wait_pauses_the_run(store):
    source = FakeSource([_posts(0, 2), _posts(2, 2)],
                        failures={1: RateLimited("HTTP 429", retry_after=3600.0)})
    result = collect_posts(source, QUERY, store, config=RunnerConfig(max_wait_s=600),
                           sleep=pytest.fail)
    assert (result.status, result.done, result.pages) == ("paused", False, 1)
    assert "asked to wait 3600 s, more than 600 s" in result.reason
    assert store.get_checkpoint("fake", QUERY.key).state == {"page": 1}
    resumed = collect_posts(source, QUERY, store)
    assert (resumed.status, resumed.resumed, resumed.posts_new) == ("done", True, 2)


def test_rate_limited_without_retry_after_backs_off(store):
    source = FakeSource([_posts(0, 1)], failures={0: RateLimited("HTTP 429", None)})
    waits: list[float] = []
    collect_posts(source, QUERY, store, config=NO_WAIT, sleep=waits.append,
                  rng=random.Random(0))
    assert len(waits) == 1 and 0.5 <= waits[0] <= 1.0


def test_page_wait_is_honoured_between_pages_and_a_long_one_pauses(store):
    source = FakeSource([_posts(0, 1), _posts(1, 1), _posts(2, 1)], waits=[12.0, 0.0, 99.0])
    waits: list[float] = []
    result = collect_posts(source, QUERY, store, sleep=waits.append)
    assert waits == [12.0]  # the last page's wait is not slept: nothing follows
    assert result.status == "done"

    long_wait = FakeSource([_posts(0, 1), _posts(1, 1)], waits=[2000.0])
    paused = collect_posts(long_wait, Query("other"), store,
                           config=RunnerConfig(max_wait_s=900), sleep=pytest.fail)
    assert (paused.status, paused.pages) == ("paused", 1)
    assert "rate-limit window used up for 2000 s" in paused.reason


def test_newest_first_source_stops_at_the_first_page_older_than_since(store):
    # newest first: page 0 holds p29..p20, page 1 p19..p10, page 2 p9..p0
    newest = list(reversed(_posts(0, 30)))
    source = FakeSource([newest[0:10], newest[10:20], newest[20:30]], newest_first=True)
    since = T0 + timedelta(minutes=15)
    result = collect_posts(source, Query("acme", since=since), store, sleep=pytest.fail)
    assert (result.status, result.done, result.pages) == ("done", True, 2)
    assert source.requested_pages() == [0, 1]  # page 2 is never fetched
    assert result.posts_too_old == 5
    assert result.reason.startswith("reached posts older than 2024-06-01T00:15:00")
    assert _ids(store) == [f"p{i}" for i in range(15, 30)]
    assert all(p.created_at >= since for p in store.iter_posts())
    assert source.calls[0][0].since == since


def test_oldest_first_source_skips_old_posts_but_reads_on(store):
    source = FakeSource([_posts(0, 5), _posts(5, 5), _posts(10, 5)], newest_first=False)
    since = T0 + timedelta(minutes=7)
    result = collect_posts(source, Query("acme", since=since), store)
    assert result.pages == 3 and result.posts_too_old == 7
    assert _ids(store) == [f"p{i}" for i in range(7, 15)]


def test_an_incremental_pass_after_done_only_stores_newer_posts(store):
    older = list(reversed(_posts(0, 6)))
    first_source = FakeSource([older[0:3], older[3:6]], newest_first=True)
    first = collect_posts(first_source, QUERY, store)
    assert first.status == "done" and store.count_posts() == 6
    assert store.get_checkpoint("fake", QUERY.key).high_water == T0 + timedelta(minutes=5)

    # later the platform has p6..p9 on top; newest first, three a page
    now_listing = list(reversed(_posts(0, 10)))
    second_source = FakeSource([now_listing[i:i + 3] for i in range(0, 10, 3)],
                               newest_first=True)
    second = collect_posts(second_source, QUERY, store, RunnerConfig(lookback_s=0),
                           sleep=pytest.fail)
    assert second.resumed is False
    assert second.status == "done"
    assert second_source.calls[0][0].since == T0 + timedelta(minutes=5)  # the high water
    assert second_source.requested_pages() == [0, 1]  # p9 p8 p7, then p6 p5 p4: stop
    assert (second.posts_new, second.posts_seen) == (4, 1)  # p5 equals the high water
    assert second.posts_too_old == 1
    assert _ids(store) == _expected(10)
    assert store.get_checkpoint("fake", QUERY.key).high_water == T0 + timedelta(minutes=9)


def test_query_brand_fills_posts_without_one_and_keeps_their_own(store):
    posts = [*_posts(0, 2), *_posts(2, 1, brand="Globex")]
    collect_posts(FakeSource([posts]), QUERY, store)
    assert {p.post_id: p.brand for p in store.iter_posts()} == {
        "p0": "Acme", "p1": "Acme", "p2": "Globex"}
    collect_posts(FakeSource([_posts(10, 1)]), Query("no brand"), store)
    assert [p.brand for p in store.iter_posts() if p.post_id == "p10"] == [None]


def test_keyboard_interrupt_mid_run_is_recorded_and_a_new_run_resumes(store):
    pages = [_posts(i * 3, 3) for i in range(4)]
    source = FakeSource(pages, failures={2: KeyboardInterrupt()})
    with pytest.raises(KeyboardInterrupt):
        collect_posts(source, QUERY, store)
    (interrupted,) = store.stats()["runs"]
    assert interrupted["status"] == "interrupted"
    assert "Ctrl-C" in interrupted["message"]
    assert (interrupted["pages"], interrupted["requests"]) == (2, 3)
    assert _ids(store) == _expected(6)
    assert store.get_checkpoint("fake", QUERY.key).state == {"page": 2}

    result = collect_posts(source, QUERY, store)
    assert (result.status, result.resumed, result.posts_new, result.posts_seen) == (
        "done", True, 6, 0)
    assert source.requested_pages() == [0, 1, 2, 2, 3]
    assert _ids(store) == _expected(12)
    assert store.count_posts() == 12
    statuses = sorted(r["status"] for r in store.stats()["runs"])
    assert statuses == ["done", "interrupted"]


def test_keyboard_interrupt_while_waiting_is_recorded(store):
    source = FakeSource([_posts(0, 1), _posts(1, 1)], waits=[5.0])

    def interrupted_sleep(seconds):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        collect_posts(source, QUERY, store, sleep=interrupted_sleep)
    assert store.stats()["runs"][0]["status"] == "interrupted"
    assert store.get_checkpoint("fake", QUERY.key).state == {"page": 1}


def test_runner_config_rejects_bad_limits():
    with pytest.raises(ConfigError, match="max_pages"):
        RunnerConfig(max_pages=0)
    with pytest.raises(ConfigError, match="max_requests"):
        RunnerConfig(max_requests=0)
    with pytest.raises(ConfigError, match="max_retries"):
        RunnerConfig(max_retries=-1)
    with pytest.raises(ConfigError, match="need 0 <= backoff_base_s <= backoff_cap_s, got 10 "
                                          "and 1"):
        RunnerConfig(backoff_base_s=10, backoff_cap_s=1)


def test_an_unexpected_error_in_a_source_records_the_run_failed_and_propagates(store):
    source = FakeSource([_posts(0, 2), _posts(2, 2)], failures={1: ValueError("bad parse")})
    with pytest.raises(ValueError, match="bad parse"):
        collect_posts(source, QUERY, store, sleep=pytest.fail)
    (run,) = store.stats()["runs"]
    assert (run["status"], run["message"]) == ("failed", "ValueError: bad parse")
    assert _ids(store) == _expected(2)


def test_rejected_items_are_stored_with_the_run_and_do_not_stop_collection(store):
    class Rejecting(FakeSource):
        def fetch_page(self, query, checkpoint):
            page = super().fetch_page(query, checkpoint)
            bad = RejectedItem("s-9", "no created_at", {"id": "s-9", "content": "hi"})
            return Page(page.posts, page.next_checkpoint, rejected=(bad,))

    result = collect_posts(Rejecting([_posts(0, 2), _posts(2, 2)]), QUERY, store,
                           sleep=pytest.fail)
    assert (result.status, result.rejected, result.posts_new) == ("done", 2, 4)
    rows = store.rejected_rows(result.run_id)
    assert [(line, reason) for line, reason, _ in rows] == [(1, "s-9: no created_at"),
                                                           (2, "s-9: no created_at")]
    assert rows[0][2] == {"id": "s-9", "content": "hi"}
    run = store.run(result.run_id)
    assert (run.rows_in, run.posts_new, run.rejected) == (6, 4, 2)


def test_the_look_back_collects_a_post_that_arrived_late(store):
    posts = list(reversed(_posts(0, 6)))  # p5 .. p0, newest first, a minute apart
    collect_posts(FakeSource([posts[:3], posts[3:]], newest_first=True), QUERY, store)
    # p-late was written at minute 4.5 but only reached search after the first pass
    late = Post(source="fake", post_id="p-late", text="late complaint",
                created_at=T0 + timedelta(minutes=4, seconds=30))
    second = collect_posts(FakeSource([[posts[0], late, *posts[1:3]]], newest_first=True),
                           QUERY, store, RunnerConfig(lookback_s=120), sleep=pytest.fail)
    assert second.since == T0 + timedelta(minutes=3)  # newest (minute 5) less 2 minutes
    assert second.posts_new == 1 and "p-late" in {p.post_id for p in store.iter_posts()}


def test_a_post_dated_in_the_future_does_not_become_the_high_water_mark(store):
    future = Post(source="fake", post_id="f", text="clock is wrong",
                  created_at=datetime.now(UTC) + timedelta(days=3650))
    collect_posts(FakeSource([[future, *_posts(0, 2)]]), QUERY, store)
    assert store.get_checkpoint("fake", QUERY.key).high_water == T0 + timedelta(minutes=1)
    later = collect_posts(FakeSource([_posts(2, 2)]), QUERY, store, RunnerConfig(lookback_s=0))
    assert later.posts_new == 2


def test_resuming_with_another_since_is_refused_with_what_to_do(store):
    source = FakeSource([_posts(0, 2), _posts(2, 2)])
    since = T0 - timedelta(days=1)
    collect_posts(source, replace(QUERY, since=since), store, RunnerConfig(max_pages=1))
    with pytest.raises(ConfigError, match="same --since .* or start over with --restart"):
        collect_posts(source, replace(QUERY, since=since - timedelta(days=1)), store)
    resumed = collect_posts(source, QUERY, store)  # no --since: resume as started
    assert resumed.resumed and resumed.since == since and resumed.status == "done"


def test_a_platform_repeating_its_cursor_does_not_loop(store):
    class Stuck(FakeSource):
        def fetch_page(self, query, checkpoint):
            super().fetch_page(query, None)
            return Page(tuple(_posts(0, 2)), {"cursor": "same"})

    result = collect_posts(Stuck([_posts(0, 2)]), QUERY, store, sleep=pytest.fail)
    assert result.status == "failed" and result.requests == 2
    assert "same next-page cursor" in result.reason
    assert store.count_posts() == 2


def test_a_refused_resume_suggests_restart(store):
    source = FakeSource([_posts(0, 2), _posts(2, 2)],
                        failures={1: CollectError("HTTP 400 (invalid next_token)")})
    collect_posts(source, QUERY, store, RunnerConfig(max_pages=1))
    result = collect_posts(source, QUERY, store, sleep=pytest.fail)
    assert result.status == "failed" and result.reason.endswith("start over with --restart")
