"""Micro-batching: concurrent requests share one model call, and a big request cannot make
everyone else wait.

Requests queue their posts; one worker forms each model call (at most ``max_batch``
posts) from every request waiting, optionally waits up to ``max_wait_ms`` for more, runs
the model in a worker thread (off the event loop) and hands each request its own
predictions. With ``max_wait_ms=0`` (the service default) an idle server adds no latency,
and a loaded one batches by itself.

A request bigger than a batch is split over several model calls, and each call is filled
with the posts of the requests that have the fewest posts left, so a one-post request
waits for at most the call in progress, not for every big request that came before it
(issue 18: 57 s behind eight requests of 256 posts). The oldest request always gets a
quarter of each call, so a stream of small requests cannot starve a big one.

Every request can carry a time limit: past it the caller gets :class:`QueueTimeoutError`
(none of its posts reached the model) or :class:`RunTimeoutError` (some did), and the posts
not yet run are dropped. The queue is bounded: when it is full, :class:`QueueFullError`
tells the caller to shed load instead of letting latency grow without limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from nlp.types import Prediction

PredictFn = Callable[[Sequence[str], Sequence[tuple[str, str]]], list[Prediction]]
OLDEST_SHARE = 4  # the oldest request gets at least 1/OLDEST_SHARE of each model call


class QueueFullError(RuntimeError):
    """The batcher's queue is full; the request should be retried later."""


class QueueTimeoutError(TimeoutError):
    """The request's time limit passed before any of its posts reached the model."""


class RunTimeoutError(TimeoutError):
    """The request's time limit passed while its posts were being run."""


@dataclass(eq=False)
class _Job:
    texts: list[str]
    keys: list[tuple[str, str]]
    future: asyncio.Future
    sent: int = 0  # posts handed to the model so far (in order)
    results: list[Prediction] = field(default_factory=list)

    @property
    def left(self) -> int:
        return len(self.texts) - self.sent


def plan_batch(left: Sequence[int], max_batch: int) -> list[int]:
    """How many posts each waiting request (oldest first) puts into the next model call.

    The oldest request gets up to a quarter of the call; the rest goes to the requests
    with the fewest posts left, oldest first among equals.
    """
    take = [0] * len(left)
    room = max_batch
    if left:
        take[0] = min(left[0], max(1, max_batch // OLDEST_SHARE))
        room -= take[0]
    for i in sorted(range(len(left)), key=lambda i: (left[i] - take[i], i)):
        if room <= 0:
            break
        more = min(left[i] - take[i], room)
        take[i] += more
        room -= more
    return take


class MicroBatcher:
    """Collects requests into model calls of at most ``max_batch`` posts."""

    def __init__(self, predict: PredictFn, max_batch: int = 64, max_wait_ms: float = 0.0,
                 max_queue: int = 256):
        if max_batch < 1 or max_wait_ms < 0 or max_queue < 1:
            raise ValueError(
                f"need max_batch >= 1, max_wait_ms >= 0, max_queue >= 1; got "
                f"{max_batch}, {max_wait_ms}, {max_queue}")
        self._predict = predict
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1000.0
        self.max_queue = max_queue
        self._pending: list[_Job] = []  # requests with posts not yet run, oldest first
        self._running: list[_Job] = []  # the requests in the model call under way
        self._arrived: asyncio.Event | None = None
        # One model thread: calls are serialised, and the event loop stays free.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="model")
        self._worker: asyncio.Task | None = None
        self.batches_run = 0

    @property
    def queued(self) -> int:
        """Requests waiting for the model (none of their posts run yet, or some)."""
        return sum(1 for job in self._pending if not job.future.done())

    def full(self) -> bool:
        return self.queued >= self.max_queue

    async def start(self) -> None:
        self._arrived = asyncio.Event()
        self._worker = asyncio.create_task(self._run(), name="microbatch-worker")

    async def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
        for job in self._pending + self._running:
            if not job.future.done():
                job.future.set_exception(RuntimeError("server shutting down"))
        self._pending.clear()
        self._running.clear()
        self._executor.shutdown(wait=True)

    async def predict(self, texts: Sequence[str], keys: Sequence[tuple[str, str]],
                      timeout: float | None = None) -> list[Prediction]:
        """Queue posts for the next model calls and wait for their predictions.

        Raises:
            QueueFullError: too many requests are waiting already.
            QueueTimeoutError: ``timeout`` seconds passed before any post reached the model.
            RunTimeoutError: ``timeout`` seconds passed while the posts were being run.
        """
        if self._worker is None or self._worker.done():
            raise RuntimeError("micro-batcher is not running")
        if not texts:
            return []
        if self.full():
            raise QueueFullError("too many requests queued; retry shortly")
        job = _Job(list(texts), list(keys), asyncio.get_running_loop().create_future())
        self._pending.append(job)
        self._arrived.set()
        try:
            return await asyncio.wait_for(job.future, timeout)
        except TimeoutError:
            # wait_for cancelled the future: the worker drops what is left of the job.
            if job.sent == 0:
                raise QueueTimeoutError(f"waited over {timeout:g} s for the model") from None
            raise RunTimeoutError(f"took over {timeout:g} s") from None

    async def _next_batch(self) -> list[tuple[_Job, int, int]]:
        """The next model call: (job, first post, end) for each job that has posts in it."""
        while True:
            self._pending = [job for job in self._pending if not job.future.done()]
            if self._pending:
                break
            self._arrived.clear()
            await self._arrived.wait()
        deadline = time.monotonic() + self.max_wait
        # Optionally wait for company; under load, what queued meanwhile fills the call.
        while sum(job.left for job in self._pending) < self.max_batch:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), timeout=remaining)
        jobs = [job for job in self._pending if not job.future.done()]
        batch = []
        for job, take in zip(jobs, plan_batch([j.left for j in jobs], self.max_batch),
                             strict=True):
            if take:
                batch.append((job, job.sent, job.sent + take))
                job.sent += take
        self._pending = [job for job in jobs if job.left]
        return batch

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._next_batch()
            if not batch:
                continue
            texts = [t for job, start, end in batch for t in job.texts[start:end]]
            keys = [k for job, start, end in batch for k in job.keys[start:end]]
            self._running = [job for job, _, _ in batch]
            try:
                predictions = await loop.run_in_executor(self._executor, self._predict,
                                                         texts, keys)
            except Exception as exc:  # handed to every request in the call, not swallowed
                for job, _, _ in batch:
                    if not job.future.done():
                        job.future.set_exception(exc)
                continue
            self.batches_run += 1
            offset = 0
            for job, start, end in batch:
                job.results.extend(predictions[offset:offset + end - start])
                offset += end - start
                # The client may have gone away, or its time limit passed.
                if not job.future.done() and len(job.results) == len(job.texts):
                    job.future.set_result(job.results)
