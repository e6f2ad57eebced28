"""Collection: sources that fetch public posts page by page, and the runner that stores them.

Every source implements :class:`radar.collect.base.Source`;
:func:`radar.collect.runner.collect_posts` owns checkpoints, retries, rate limits and
storage. ``SOURCES`` names the built-in sources for the command line; each is imported
only when asked for, so collecting from one platform never imports another's client.
"""

SOURCES = {
    "mastodon": "radar.collect.mastodon",
    "bluesky": "radar.collect.bluesky",
    "reddit": "radar.collect.reddit",
    "x": "radar.collect.x",
    "hackernews": "radar.collect.hackernews",
    "appstore": "radar.collect.appstore",
    "snscrape-telegram": "radar.collect.snscrape",
}


def load_source_module(name: str):
    """The module of a built-in source, by its command-line name (``KeyError`` names them all)."""
    import importlib

    if name not in SOURCES:
        raise KeyError(f"unknown source {name!r}; sources are {', '.join(SOURCES)} "
                       "(see `radar sources`)")
    return importlib.import_module(SOURCES[name])


def parse_since(value: str | None):
    """``--since``: an ISO 8601 date or time (UTC when no offset), or an age (``7d``, ``24h``)."""
    from datetime import UTC, datetime, timedelta

    if value is None:
        return None
    text = str(value).strip()
    if text[:-1].isdigit() and text[-1:] in ("d", "h"):
        amount = int(text[:-1])
        delta = timedelta(days=amount) if text.endswith("d") else timedelta(hours=amount)
        return datetime.now(UTC) - delta
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"--since {value!r}: expected an ISO 8601 date such as 2026-11-01 or "
                         "2026-11-01T08:00:00Z, or an age such as 7d or 24h") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
