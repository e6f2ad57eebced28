"""Platform HTML (Mastodon statuses, Hacker News comments) as plain text, one way for all."""

from __future__ import annotations

import re
from html.parser import HTMLParser

_LINE_TAGS = {"br", "li", "tr"}
_BLOCK_TAGS = {"p", "div", "blockquote", "pre", "ul", "ol", "table",
               "h1", "h2", "h3", "h4", "h5", "h6"}


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)  # entities arrive unescaped in handle_data
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        # A bare <p> (older HN items) separates paragraphs as well as <p>..</p> does.
        if tag in _LINE_TAGS:
            self.parts.append("\n")
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _BLOCK_TAGS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_to_text(fragment: str) -> str:
    """Plain text of an HTML fragment: a newline per ``<br>``, a blank line between
    paragraphs and blocks, entities unescaped, tags dropped.

    A link keeps its visible text. Mastodon splits long URLs into ``invisible`` /
    ``ellipsis`` spans for display; joining the spans gives back the full URL.
    """
    parser = _TextExtractor()
    parser.feed(fragment)
    parser.close()
    text = re.sub(r"[ \t]+\n", "\n", "".join(parser.parts))
    return re.sub(r"\n{3,}", "\n\n", text).strip()
