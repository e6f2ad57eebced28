"""The collection runner: pages from a source into the store, resumable and polite.

For one (source, query) the runner:

- resumes from the stored checkpoint, or starts a new pass. A new pass after a
  finished one only collects what is newer than the newest post already stored
  (``high_water``), so a scheduled re-run is incremental;
- commits each page's posts together with the checkpoint they lead to, in one
  transaction: a crash or Ctrl-C between pages loses nothing and a restart stores
  nothing twice;
- waits as the platform asks (``Retry-After``, rate-limit headers), backs off
  exponentially with jitter (:class:`radar.retry.Backoff`) on 5xx, network errors and
  malformed JSON, and gives up with the reason after ``max_retries`` consecutive failures;
- spends at most ``max_requests`` requests per run (the per-source budget) and at
  most ``max_pages`` pages;
- stops at once on an authentication failure, saying which credentials to check.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

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
from radar.retry import Backoff
from radar.store import PostStore

Progress = Callable[["CollectProgress"], None]


@dataclass(frozen=True)
class RunnerConfig:
    """Limits and patience of one collection run."""

    max_pages: int | None = None
    max_requests: int = 500
    max_retries: int = 5
    backoff_base_s: float = 1.0
    backoff_cap_s: float = 300.0
    max_wait_s: float = 900.0  # a platform asking to wait longer than this ends the run
    # A new pass re-reads this far behind the newest stored post: posts that reach search
    # or a timeline late (remote statuses, indexing delays) are still collected.
    lookback_s: float = 3600.0

    def __post_init__(self) -> None:
        if self.max_pages is not None and self.max_pages < 1:
            raise ConfigError(f"max_pages must be >= 1, got {self.max_pages}")
        if self.max_requests < 1:
            raise ConfigError(f"max_requests must be >= 1, got {self.max_requests}")
        if self.max_retries < 0:
            raise ConfigError(f"max_retries must be >= 0, got {self.max_retries}")
        if self.lookback_s < 0:
            raise ConfigError(f"lookback_s must be >= 0, got {self.lookback_s}")
        try:
            _ = self.backoff  # Backoff checks the two backoff fields
        except ValueError as exc:
            raise ConfigError(str(exc)) from None

    @property
    def backoff(self) -> Backoff:
        """The wait after each consecutive failure (the runner's own, unless Retry-After)."""
        return Backoff(self.backoff_base_s, self.backoff_cap_s)

    def to_dict(self) -> dict[str, float | int | None]:
        return {"max_pages": self.max_pages, "max_requests": self.max_requests,
                "max_retries": self.max_retries, "backoff_base_s": self.backoff_base_s,
                "backoff_cap_s": self.backoff_cap_s, "max_wait_s": self.max_wait_s,
                "lookback_s": self.lookback_s}


@dataclass(frozen=True)
class CollectProgress:
    """Reported after each stored page and before each wait."""

    pages: int
    requests: int
    posts_new: int
    posts_seen: int
    waiting_s: float = 0.0
    note: str = ""


@dataclass(frozen=True)
class CollectResult:
    """What a run did, and why it stopped (``done``: no more pages for this query)."""

    run_id: str
    source: str
    query_key: str
    resumed: bool
    since: datetime | None  # the oldest post time this run collected down to
    pages: int
    requests: int
    posts_new: int
    posts_seen: int
    posts_too_old: int
    rejected: int  # items the platform sent that could not be read as posts (stored)
    done: bool
    status: str  # done | paused | failed
    reason: str


def _reject_reason(item: RejectedItem) -> str:
    """The stored reason names the item once, whether or not the source's message did."""
    if item.item_id and item.item_id not in item.reason:
        return f"{item.item_id}: {item.reason}"
    return item.reason


def _newest(page_posts, current: datetime | None) -> datetime | None:
    times = [p.created_at for p in page_posts if p.created_at is not None]
    if current is not None:
        times.append(current)
    return max(times) if times else None


def collect_posts(source: Source, query: Query, store: PostStore,
                  config: RunnerConfig = RunnerConfig(), restart: bool = False,
                  sleep: Callable[[float], None] = time.sleep,
                  rng: random.Random | None = None,
                  progress: Progress | None = None) -> CollectResult:
    """Collect ``query`` from ``source`` into ``store`` until done, a limit, or a failure.

    Raises:
        AuthError: the platform refused the credentials (after recording the run as failed).
        KeyboardInterrupt: passed on after recording the run as interrupted; the last
            committed page's checkpoint is where the next run resumes.
    """
    rng = rng or random.Random()
    started = datetime.now(UTC)
    stored = None if restart else store.get_checkpoint(source.name, query.key)
    resumed = stored is not None and not stored.done and stored.state is not None
    if resumed:
        if query.since is not None and query.since != stored.since:
            raise ConfigError(
                f"this query's unfinished run was started with since "
                f"{stored.since.isoformat() if stored.since else 'none'}; resume it with the "
                "same --since (or none), or start over with --restart")
        checkpoint, since = stored.state, stored.since
    else:
        checkpoint = None
        since = query.since
        if stored is not None and stored.done and stored.high_water is not None:
            # Incremental: only what is newer than the last pass, minus a look-back.
            floor = stored.high_water - timedelta(seconds=config.lookback_s)
            since = max(since, floor) if since else floor
    high_water = stored.high_water if stored is not None else None
    run_query = replace(query, since=since)
    run_id = store.start_run("collect", source.name, query.key, query.brand)

    pages = requests = new = seen = too_old = failures = rejected = 0
    done = False
    status, reason = "paused", ""

    def report(waiting: float = 0.0, note: str = "") -> None:
        if progress is not None:
            progress(CollectProgress(pages, requests, new, seen, waiting, note))

    try:
        while True:
            if config.max_pages is not None and pages >= config.max_pages:
                reason = (f"stopped after {pages} pages (--max-pages); run again to continue "
                          "from the checkpoint")
                break
            if requests >= config.max_requests:
                reason = (f"request budget of {config.max_requests} used up; run again to "
                          "continue from the checkpoint")
                break
            requests += 1
            try:
                page: Page = source.fetch_page(run_query, checkpoint)
            except AuthError:
                status = "failed"
                raise
            except TransientError as exc:
                failures += 1
                if failures > config.max_retries:
                    status = "failed"
                    reason = (f"gave up after {failures} consecutive failed requests; "
                              f"last: {exc}")
                    break
                wait = exc.retry_after if isinstance(exc, RateLimited) else None
                if wait is None:
                    wait = config.backoff.delay(failures, rng)
                if wait > config.max_wait_s:
                    reason = (f"the platform asked to wait {wait:.0f} s, more than "
                              f"{config.max_wait_s:.0f} s; run again later to continue")
                    break
                report(wait, str(exc))
                sleep(wait)
                continue
            except CollectError as exc:
                status = "failed"
                reason = str(exc)
                if checkpoint is not None:
                    reason += ("; if the stored checkpoint has gone stale, start over with "
                               "--restart")
                break
            failures = 0
            posts = page.posts
            if query.brand is not None:
                posts = tuple(p if p.brand else replace(p, brand=query.brand) for p in posts)
            fresh = posts if since is None else tuple(
                p for p in posts if p.created_at is None or p.created_at >= since)
            too_old += len(posts) - len(fresh)
            reached_old = (since is not None and source.newest_first
                           and len(fresh) < len(posts))
            next_checkpoint = None if reached_old else page.next_checkpoint
            stuck = next_checkpoint is not None and next_checkpoint == checkpoint
            done = next_checkpoint is None
            # A post dated in the future (a client's wrong clock) must not become the mark
            # that every later pass stops at.
            high_water = _newest([p for p in fresh if p.created_at is None
                                  or p.created_at <= started], high_water)
            counts = store.save_page(
                source.name, query.key, run_id, fresh, next_checkpoint, done, since, high_water,
                requests, [(_reject_reason(item), item.raw) for item in page.rejected])
            rejected += len(page.rejected)
            pages += 1
            new += counts.new
            seen += counts.seen
            checkpoint = next_checkpoint
            report()
            if stuck:
                status = "failed"
                reason = ("the platform answered with the same next-page cursor as asked for; "
                          "stopped instead of requesting the same page forever")
                break
            if done:
                status = "done"
                reason = ("reached posts older than " + since.isoformat() if reached_old
                          else "no more pages")
                break
            if page.wait > 0:
                if page.wait > config.max_wait_s:
                    reason = (f"rate-limit window used up for {page.wait:.0f} s; run again "
                              "later to continue")
                    break
                report(page.wait, "rate-limit window used up")
                sleep(page.wait)
    except KeyboardInterrupt:
        store.finish_run(run_id, "interrupted", "stopped by the user (Ctrl-C); run again to "
                         "resume from the last stored page", requests)
        raise
    except AuthError as exc:
        store.finish_run(run_id, "failed", str(exc), requests)
        raise
    except Exception as exc:
        # A bug or an unexpected failure: the run says so instead of staying 'running'.
        store.finish_run(run_id, "failed", f"{type(exc).__name__}: {exc}", requests)
        raise
    store.finish_run(run_id, status, reason, requests)
    return CollectResult(run_id=run_id, source=source.name, query_key=query.key,
                         resumed=resumed, since=since, pages=pages, requests=requests,
                         posts_new=new, posts_seen=seen, posts_too_old=too_old,
                         rejected=rejected, done=done, status=status, reason=reason)
