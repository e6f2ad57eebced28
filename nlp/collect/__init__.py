"""Collection: sources that fetch public posts page by page, and the runner that stores them.

Every source implements :class:`nlp.collect.base.Source`; :func:`nlp.collect.runner.collect_posts`
owns checkpoints, retries, rate limits and storage. ``SOURCES`` names the built-in sources
for the command line; each is imported only when asked for, so collecting from one
platform never imports another's client.
"""

SOURCES = {
    "mastodon": "nlp.collect.mastodon",
    "bluesky": "nlp.collect.bluesky",
    "reddit": "nlp.collect.reddit",
    "x": "nlp.collect.x",
    "hackernews": "nlp.collect.hackernews",
    "appstore": "nlp.collect.appstore",
    "snscrape-telegram": "nlp.collect.snscrape",
}
