"""Text normalisation shared by training and serving, and masking for people to read.

- :func:`normalize_text`: one function, used everywhere a model sees text, so a model
  never meets text prepared differently from what it was trained on (tweetnlp's
  preprocessor idea).
- :func:`mask_for_display`: one function, used everywhere a post is shown to a person
  (dashboard pages and exports, alerts, ``radar report --brand``): handles, links, e-mail
  addresses, phone numbers and payment-card numbers masked. It never feeds a model.
"""

from __future__ import annotations

import html
import json
import re
from typing import Any

USER_TOKEN = "@user"
URL_TOKEN = "http"
EMAIL_TOKEN = "[email]"
PHONE_TOKEN = "[phone]"
CARD_TOKEN = "[card]"

# Handles: Twitter/X style (@name) and fediverse style (@name@server.tld).
_HANDLE_RE = re.compile(r"(?<![\w@])@\w+(?:@[\w.-]+\.\w+)?")
_URL_RE = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_SPACE_RE = re.compile(r"\s+")
# E-mail addresses: a local part not glued to a word or a handle, @, a dotted domain.
_EMAIL_RE = re.compile(r"(?<![\w.+@-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# A run of digit groups that may be a phone or card number: an optional + and (area
# code), groups joined by one space, dot or dash (or a "(0)"). Not a run glued to a word
# (UA1234), a price ($40), an id (#123), a decimal, a path or a time (10:30), nor one
# followed by a letter, % or a currency, or by more digits after . , : / - (12.5, 2015-02-24T).
_NUMBER_RE = re.compile(
    r"(?<![\w$€£¥#+.,/-])(?<!\d:)"
    r"(?:\+ ?)?(?:\(\d{1,5}\) ?)?\d+(?:(?:[ .-]| ?\(\d{1,5}\) ?)\d+)*"
    r"(?![\w%$€£¥])(?![.,:/-]\d)")
_GROUP_RE = re.compile(r"\d+")
MAX_CHUNKS = 6  # space-separated chunks of one phone number at most: +33 6 12 34 56 78


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
    return _collapse(_mask_links_and_handles(html.unescape(text)))


def _mask_links_and_handles(text: str) -> str:
    """URLs as ``http``, then @handles as ``@user``: the masking the model and people share."""
    return _HANDLE_RE.sub(USER_TOKEN, _URL_RE.sub(URL_TOKEN, text))


def _collapse(text: str) -> str:
    return _SPACE_RE.sub(" ", text).strip()


def mask_for_display(text: str) -> str:
    """A post as people may see it: on pages, in exports, alerts and reports.

    Unescapes HTML entities, then masks

    - e-mail addresses as ``[email]`` (``name@domain.tld``; every address, a company's too);
    - links as ``http`` and @handles (``@name``, ``@name@server.tld``) as ``@user``, as
      :func:`normalize_text` does;
    - payment-card numbers as ``[card]``: 13 to 19 digits written in a card's groups
      (``4111 1111 1111 1111``, ``-`` or space between groups of four, Amex's 4-6-5),
      or unbroken and passing the Luhn check (``4111111111111111``). An unbroken number
      failing it is an order or tracking number, not a card, and stays;
    - phone numbers as ``[phone]``: 8 to 15 digits in groups joined by a space or dash, or
      by dots only (``555-123-4567``, ``07700 900123``, ``(555) 123-4567``,
      ``555.123.4567``), or after a ``+`` (``+44 20 7946 0958``, ``+4915112345678``), or
      10 to 15 digits unbroken (``5551234567``);

    and collapses whitespace. Left as written: dates (``2015-02-24``, ``24.02.2015``),
    times (``10:30``), prices and decimals (``$40``, ``€ 1.299,00``, ``20.75 30.25``,
    ``10.000.000``), percentages, flight numbers (``UA1234``), years (``2019``,
    ``2019 2020``), counts (``3 hours``, ``2 of 5``), ids after ``#`` or glued to
    letters, unbroken runs of 9 digits or fewer (``order 123456789``) and dashed runs of
    more than 19 digits (``113-1234567-1234567``). The other side of the line: an
    unbroken 10 to 15 digit order number, or 8 or more digits of small numbers in a row
    (``10 12 15 18 20``), is masked as a phone; for a person reading, too much masked is
    the safe side. Names, postal addresses, IBANs and obfuscated addresses
    (``jane at example dot com``) are not recognised.

    Not for models: :func:`normalize_text` is what a model sees, and it keeps e-mail
    addresses and numbers.

    Args:
        text: the post as collected (or as masked before: masking again changes nothing).

    Returns:
        The masked text.

    Raises:
        TypeError: if ``text`` is not a string.
    """
    if not isinstance(text, str):
        raise TypeError(f"mask_for_display expects str, got {type(text).__name__}")
    # Addresses first: a handle or link pattern would otherwise take part of one.
    text = _EMAIL_RE.sub(EMAIL_TOKEN, html.unescape(text))
    return _collapse(_mask_numbers(_mask_links_and_handles(text)))


def _mask_numbers(text: str) -> str:
    return _NUMBER_RE.sub(lambda match: _masked_number(match.group()), text)


def _masked_number(run: str) -> str:
    """``run`` (a match of ``_NUMBER_RE``) with its card and phone numbers masked.

    The run is read as chunks between spaces (``2015-02-24``, ``(555)``, ``123-4567``).
    From the first chunk on, the longest stretch of chunks that is a card or phone number
    is masked, then the scan goes on after it, or from the next chunk: a date right
    before a phone number (``2015-02-24 555-123-4567``) hides neither, and two numbers
    side by side are both masked. A stretch holds at most ``MAX_CHUNKS`` chunks and 19
    digits, so a run of any length is read in linear time.
    """
    chunks = _chunks(run)
    texts = [run[first:last] for first, last in chunks]
    digits = [0]
    for text in texts:
        digits.append(digits[-1] + sum(c.isdigit() for c in text))
    out, done, i = [], 0, 0
    while i < len(chunks):
        for j in range(min(i + MAX_CHUNKS, len(chunks)), i, -1):
            if not 8 <= digits[j] - digits[i] <= 19:
                continue  # no card or phone number has as many (or as few) digits
            if j - i > 1 and not texts[i].startswith("+") and _dated(texts[i:j]):
                continue
            token = _number_token(run[chunks[i][0]:chunks[j - 1][1]])
            if token is not None:
                out += [run[done:chunks[i][0]], token]
                done, i = chunks[j - 1][1], j
                break
        else:
            i += 1
    return "".join(out) + run[done:]


def _dated(chunks: list[str]) -> bool:
    """Whether chunks side by side hold a date: one is a date (2015-02-24), or a year sits
    next to a day, an hour or a count (Feb 24 2015 10 hours, 2015-02-24 3 hours)."""
    groups = [_GROUP_RE.findall(c) for c in chunks]
    lengths = [[len(g) for g in chunk] for chunk in groups]
    if any(n in ([4, 2, 2], [2, 2, 4]) for n in lengths):
        return True
    year = [len(chunk) == 1 and _years(chunk) for chunk in groups]
    small = [len(n) == 1 and n[0] <= 2 for n in lengths]
    return any(year[k] and any(small[m] for m in (k - 1, k + 1) if 0 <= m < len(chunks))
               for k in range(len(chunks)))


def _chunks(run: str) -> list[tuple[int, int]]:
    """Spans of ``run`` between spaces; a lone ``+`` belongs to the chunk after it."""
    spans = [m.span() for m in re.finditer(r"[^ ]+", run)]
    if len(spans) > 1 and run[spans[0][0]:spans[0][1]] == "+":
        spans[:2] = [(spans[0][0], spans[1][1])]
    return spans


def _number_token(part: str) -> str | None:
    groups = _GROUP_RE.findall(part)
    separators = _GROUP_RE.split(part.lstrip("+ "))[1:-1]
    if _is_card(part, groups, separators):
        return CARD_TOKEN
    if _is_phone(part, groups, separators):
        return PHONE_TOKEN
    return None


def _is_card(run: str, groups: list[str], separators: list[str]) -> bool:
    digits = "".join(groups)
    if run.startswith("+") or "(" in run or not 13 <= len(digits) <= 19:
        return False
    if any(s not in (" ", "-") for s in separators):
        return False
    if len(groups) == 1:
        return _luhn(digits)  # unbroken: an order or tracking number as often as a card
    lengths = [len(g) for g in groups]
    # Written in a card's groups: a card, even mistyped (a wrong digit hides no other).
    return not _years(groups) and (lengths in ([4, 6, 5], [4, 6, 4]) or (
        all(n == 4 for n in lengths[:-1]) and 1 <= lengths[-1] <= 4))


def _years(groups: list[str]) -> bool:
    return all(len(g) == 4 and g[:2] in ("19", "20") for g in groups)


def _luhn(digits: str) -> bool:
    """The Luhn checksum every payment-card number satisfies (and 1 in 10 other numbers)."""
    total = 0
    for i, char in enumerate(reversed(digits)):
        value = int(char) * (2 if i % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def _is_phone(run: str, groups: list[str], separators: list[str]) -> bool:
    digits = sum(len(g) for g in groups)
    if not 8 <= digits <= 15:
        return False
    if run.startswith("+"):
        return True
    lengths = [len(g) for g in groups]
    if len(groups) == 1:
        return digits >= 10  # shorter unbroken runs are ids and amounts more often
    if lengths in ([4, 2, 2], [2, 2, 4]):
        return False  # a date: 2015-02-24, 24.02.2015, 02-24-2015
    if _years(groups):
        return False  # 2019 2020
    if "." in separators and (set(separators) != {"."} or len(groups) < 3):
        return False  # decimals: 12.50, 20.75 30.25 (555.123.4567 has dots only)
    if set(separators) == {"."} and lengths[0] <= 3 and set(lengths[1:]) == {3}:
        return False  # an amount with dots between thousands: 10.000.000
    return sum(n == 1 for n in lengths[1:]) <= 1  # "1 2 3 4 5 6 7 8" is no number


def dedup_key(text: str) -> str:
    """Key under which two posts count as the same text (for de-duplication and splits)."""
    return normalize_text(text).casefold()


def normalize_for_tfidf(text: str) -> str:
    """``normalize_text``, lower-cased: the preprocessor of the TF-IDF baseline's vectorisers.

    Living inside the fitted vectoriser, it makes training and scoring prepare
    text the same way by construction.
    """
    return normalize_text(text).lower()


def to_json(value: Any) -> str:
    """JSON text of ``value`` that always encodes as UTF-8: readable characters as they are,
    but a lone surrogate (which no UTF-8 file or SQLite text can hold) escaped as ``\\udXXX``,
    which reads back exactly. Values JSON has no type for (times) are written with ``str``."""
    text = json.dumps(value, ensure_ascii=False, default=str)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(value, ensure_ascii=True, default=str)
    return text
