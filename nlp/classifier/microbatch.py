"""Micro-batching: concurrent requests share one model call.

Requests queue their posts; one worker takes everything that queued while the
model was busy (up to ``max_batch`` posts), optionally waits up to ``max_wait_ms``
for more, runs the model once in a worker thread (off the event loop) and hands
each request its own predictions. With ``max_wait_ms=0`` (the service default) an
idle server adds no latency, and a loaded one batches by itself.
The queue is bounded: when it is full, :class:`QueueFullError` tells the caller
to shed load instead of letting latency grow without limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from nlp.types import Prediction

PredictFn = Callable[[Sequence[str], Sequence[tuple[str, str]]], list[Prediction]]


class QueueFullError(RuntimeError):
    """The batcher's queue is full; the request should be retried later."""


@dataclass
class _Job:
    texts: list[str]
    keys: list[tuple[str, str]]
    future: asyncio.Future


class MicroBatcher:
    """Collects requests into batches of at most ``max_batch`` posts for one model call."""

    def __init__(self, predict: PredictFn, max_batch: int = 64, max_wait_ms: float = 0.0,
                 max_queue: int = 256):
        if max_batch < 1 or max_wait_ms < 0 or max_queue < 1:
            raise ValueError(
                f"need max_batch >= 1, max_wait_ms >= 0, max_queue >= 1; got "
                f"{max_batch}, {max_wait_ms}, {max_queue}")
        self._predict = predict
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1000.0
        self._queue: asyncio.Queue[_Job] = asyncio.Queue(maxsize=max_queue)
        # One model thread: calls are serialised, and the event loop stays free.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="model")
        self._worker: asyncio.Task | None = None
        self.batches_run = 0

    async def start(self) -> None:
        self._worker = asyncio.create_task(self._run(), name="microbatch-worker")

    async def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
        while not self._queue.empty():
            job = self._queue.get_nowait()
            if not job.future.done():
                job.future.set_exception(RuntimeError("server shutting down"))
        self._executor.shutdown(wait=True)

    async def predict(self, texts: Sequence[str], keys: Sequence[tuple[str, str]]
                      ) -> list[Prediction]:
        """Queue posts for the next batch and wait for their predictions."""
        if self._worker is None or self._worker.done():
            raise RuntimeError("micro-batcher is not running")
        job = _Job(list(texts), list(keys), asyncio.get_running_loop().create_future())
        try:
            self._queue.put_nowait(job)
        except asyncio.QueueFull:
            raise QueueFullError("too many requests queued; retry shortly") from None
        return await job.future

    async def _collect(self) -> list[_Job]:
        jobs = [await self._queue.get()]
        size = len(jobs[0].texts)
        # Take what queued while the model was busy: under load this alone forms batches,
        # at no cost in latency when the server is idle.
        while size < self.max_batch and not self._queue.empty():
            jobs.append(self._queue.get_nowait())
            size += len(jobs[-1].texts)
        deadline = time.monotonic() + self.max_wait
        while size < self.max_batch:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                job = await asyncio.wait_for(self._queue.get(), timeout=remaining)
            except TimeoutError:
                break
            jobs.append(job)
            size += len(job.texts)
        return jobs

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            jobs = await self._collect()
            texts = [t for job in jobs for t in job.texts]
            keys = [k for job in jobs for k in job.keys]
            try:
                predictions = await loop.run_in_executor(self._executor, self._predict,
                                                         texts, keys)
            except Exception as exc:  # handed to every waiting request, not swallowed
                for job in jobs:
                    if not job.future.done():
                        job.future.set_exception(exc)
                continue
            self.batches_run += 1
            start = 0
            for job in jobs:
                end = start + len(job.texts)
                if not job.future.done():  # the client may have gone away
                    job.future.set_result(predictions[start:end])
                start = end
