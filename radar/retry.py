"""When to try again: exponential backoff with jitter, and a server's own ``Retry-After``.

The collection runner (:mod:`radar.collect.runner`) waits between failed page requests and
alert delivery (:mod:`radar.monitor.notify`) between failed sends; both back off as
:class:`Backoff` says and read a server's ``Retry-After`` with :func:`parse_retry_after`.
What each does with the two (wait as told, or the longer of both) stays with it.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import UTC
from email.utils import parsedate_to_datetime

# Absurd header values are capped at a week; the caller decides what it is willing to wait.
MAX_WAIT_S = 7 * 86400.0


@dataclass(frozen=True)
class Backoff:
    """How long to wait after the n-th failure in a row: doubling from ``base_s`` up to ``cap_s``.

    Raises:
        ValueError: ``base_s`` is negative or above ``cap_s``.
    """

    base_s: float = 1.0
    cap_s: float = 300.0

    def __post_init__(self) -> None:
        if self.base_s < 0 or self.cap_s < self.base_s:
            raise ValueError("need 0 <= backoff_base_s <= backoff_cap_s, got "
                             f"{self.base_s} and {self.cap_s}")

    def delay(self, failures: int, rng: random.Random) -> float:
        """Seconds to wait: between half and all of ``min(cap_s, base_s * 2**(failures-1))``.

        The jitter spreads clients that failed together, so they do not retry in step.
        """
        ceiling = min(self.cap_s, self.base_s * 2 ** (failures - 1))
        return ceiling / 2 + rng.uniform(0, ceiling / 2)


def parse_retry_after(value: str | None, now: float) -> float | None:
    """``Retry-After`` as seconds from ``now`` (delta-seconds or HTTP date); None: unreadable.

    Never negative (a past date means now) and at most :data:`MAX_WAIT_S`.
    """
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return min(max(seconds, 0.0), MAX_WAIT_S) if math.isfinite(seconds) else None
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return min(max(moment.timestamp() - now, 0.0), MAX_WAIT_S)
