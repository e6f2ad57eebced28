"""Text normalisation shared by training and serving.

One function, used everywhere a model sees text, so a model never meets text
prepared differently from what it was trained on (tweetnlp's preprocessor idea).
"""

from __future__ import annotations

import html
import re

USER_TOKEN = "@user"
URL_TOKEN = "http"

# Handles: Twitter/X style (@name) and fediverse style (@name@server.tld).
_HANDLE_RE = re.compile(r"(?<![\w@])@\w+(?:@[\w.-]+\.\w+)?")
_URL_RE = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_SPACE_RE = re.compile(r"\s+")


def normalize_text(text: str) -> str:
    """Normalise a post for a model.

    Unescapes HTML entities (``&amp;`` -> ``&``), masks URLs as ``http`` and
    @handles as ``@user``, keeps emoji and case, and collapses whitespace.

    Args:
        text: the post as collected.

    Returns:
        The normalised text.

    Raises:
        TypeError: if ``text`` is not a string.
    """
    if not isinstance(text, str):
        raise TypeError(f"normalize_text expects str, got {type(text).__name__}")
    # Unescape first: "&lt;3" and "&amp;" must not hide handles or URLs.
    text = html.unescape(text)
    text = _URL_RE.sub(URL_TOKEN, text)
    text = _HANDLE_RE.sub(USER_TOKEN, text)
    return _SPACE_RE.sub(" ", text).strip()


def dedup_key(text: str) -> str:
    """Key under which two posts count as the same text (for de-duplication and splits)."""
    return normalize_text(text).casefold()


def normalize_for_tfidf(text: str) -> str:
    """``normalize_text``, lower-cased: the preprocessor of the TF-IDF baseline's vectorisers.

    Living inside the fitted vectoriser, it makes training and scoring prepare
    text the same way by construction.
    """
    return normalize_text(text).lower()
