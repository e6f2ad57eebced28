"""Which brand a post is about: a brand book (``brands.yaml``) and a resolver.

A post gets its brand from a dataset column when it has one (canonicalised through
the book's names, handles and aliases), else from the brand handles and aliases it
mentions. Nothing is guessed: a post mentioning two brands is *ambiguous*, one
mentioning none is *unresolved*, and a column value the book does not know is a brand
all the same, kept as written (``how`` "unknown": unknown to the book, which can be
extended with its handles and aliases).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

_MENTION_RE = re.compile(r"(?<![\w@])@(\w+)")


# The airline-2015 release labels JetBlue's tweets "Delta" (shared datasets README): of its
# 2,222 "Delta" rows, 2,218 are addressed to @JetBlue, 2 are JetBlue's own replies (no
# mention) and 2 are addressed to @DeltaAssist only. Those two stay Delta.
_JETBLUE_HANDLES = frozenset({"jetblue"})
_DELTA_HANDLES = frozenset({"delta", "deltaassist"})


def airline_2015_brand(label: str | None, text: str) -> str | None:
    """The brand of an airline-2015 tweet: its ``airline`` label, except that a row labelled
    "Delta" is JetBlue's unless it @mentions a Delta account and not @JetBlue."""
    if label != "Delta":
        return label
    mentions = {m.lower() for m in _MENTION_RE.findall(text or "")}
    if mentions & _DELTA_HANDLES and not mentions & _JETBLUE_HANDLES:
        return "Delta"
    return "JetBlue"


class BrandBookError(ValueError):
    """``brands.yaml`` cannot be read; the message names the file and the entry."""


@dataclass(frozen=True)
class Brand:
    """One brand: its canonical name, its accounts (handles) and other names (aliases)."""

    name: str
    handles: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class Resolution:
    """A post's brand and how it was found: column, mention, unknown, ambiguous or none."""

    brand: str | None
    how: str


def _fold(name: str) -> str:
    return " ".join(name.strip().lstrip("@").split()).casefold()


@dataclass(frozen=True)
class BrandBook:
    """The brands we know, with lookups by name, handle and alias."""

    brands: tuple[Brand, ...]
    _by_name: Mapping[str, str] = field(init=False, repr=False, compare=False)
    _by_handle: Mapping[str, str] = field(init=False, repr=False, compare=False)
    _alias_re: re.Pattern | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_name: dict[str, str] = {}
        by_handle: dict[str, str] = {}
        for brand in self.brands:
            for key, table in ([(_fold(brand.name), by_name)]
                               + [(_fold(a), by_name) for a in brand.aliases]
                               + [(_fold(h), by_handle) for h in brand.handles]):
                owner = table.get(key)
                if owner is not None and owner != brand.name:
                    raise BrandBookError(f"{key!r} belongs to both {owner!r} and {brand.name!r}")
                table[key] = brand.name
        for key in by_name.keys() & by_handle.keys():  # "@x" must mean the same brand as "x"
            if by_name[key] != by_handle[key]:
                raise BrandBookError(f"{key!r} belongs to both {by_name[key]!r} and "
                                     f"{by_handle[key]!r} (a name or alias of one, a handle "
                                     "of the other)")
        aliases = sorted({_fold(a) for b in self.brands for a in b.aliases}, key=len, reverse=True)
        pattern = (re.compile(r"(?<!\w)(" + "|".join(re.escape(a).replace(r"\ ", r"\s+")
                                                     for a in aliases) + r")(?!\w)", re.I)
                   if aliases else None)
        object.__setattr__(self, "_by_name", by_name)
        object.__setattr__(self, "_by_handle", by_handle)
        object.__setattr__(self, "_alias_re", pattern)

    @classmethod
    def from_yaml(cls, path: Path) -> BrandBook:
        """Read a brand book: ``brands: {Name: {handles: [...], aliases: [...]}, ...}``."""
        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise BrandBookError(f"{path}: no such brand book; pass --brands PATH") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise BrandBookError(f"{path}: cannot read the brand book ({exc})") from exc
        except yaml.YAMLError as exc:
            raise BrandBookError(f"{path}: not valid YAML: {exc}") from exc
        entries = (data or {}).get("brands") if isinstance(data, dict) else None
        if not isinstance(entries, dict) or not entries:
            raise BrandBookError(f"{path}: expected a mapping 'brands:' of brand name -> "
                                 "{handles: [...], aliases: [...]}")
        brands = []
        for name, spec in entries.items():
            spec = spec or {}
            if not isinstance(spec, dict) or set(spec) - {"handles", "aliases"}:
                raise BrandBookError(f"{path}: brand {name!r} must have only 'handles' and "
                                     f"'aliases' lists, got {spec!r}")
            lists = {}
            for key in ("handles", "aliases"):
                values = spec.get(key) or []
                if not isinstance(values, list) or not all(isinstance(v, str) and v.strip()
                                                           for v in values):
                    raise BrandBookError(f"{path}: brand {name!r}: {key} must be a list of "
                                         f"non-empty strings, got {values!r}")
                lists[key] = tuple(values)
            brands.append(Brand(str(name), lists["handles"], lists["aliases"]))
        try:
            return cls(tuple(brands))
        except BrandBookError as exc:
            raise BrandBookError(f"{path}: {exc}") from None

    @property
    def handles(self) -> frozenset[str]:
        """Every brand account, case-folded without '@' (their posts are not customers')."""
        return frozenset(self._by_handle)

    def canonical(self, value: str) -> str | None:
        """The brand a column value names (name, alias or handle, any case), or None."""
        key = _fold(value)
        return self._by_name.get(key) or self._by_handle.get(key)

    def mentioned(self, text: str) -> set[str]:
        """Brands a text names by handle or, failing that, by alias."""
        by_handle = {self._by_handle[h] for h in (_fold(m) for m in _MENTION_RE.findall(text))
                     if h in self._by_handle}
        if by_handle or self._alias_re is None:
            return by_handle
        return {self._by_name[_fold(m)] for m in self._alias_re.findall(text)}

    def resolve(self, column_value: str | None, text: str | None) -> Resolution:
        """The brand of one post; see the module docstring for the rules."""
        if column_value is not None and str(column_value).strip():
            known = self.canonical(str(column_value))
            return Resolution(known, "column") if known else \
                Resolution(str(column_value).strip(), "unknown")
        found = self.mentioned(text) if text else set()
        if len(found) == 1:
            return Resolution(found.pop(), "mention")
        return Resolution(None, "ambiguous" if found else "none")


class BrandCounter:
    """Counts of how posts got their brands: overall, per brand, and the column values the
    book does not know (brands from the data all the same)."""

    def __init__(self) -> None:
        self.how: Counter[str] = Counter()
        self.unknown: Counter[str] = Counter()
        self.by_brand: Counter[tuple[str, str]] = Counter()  # (brand, how) -> posts

    def add(self, resolution: Resolution) -> None:
        self.how[resolution.how] += 1
        if resolution.brand is not None:
            self.by_brand[(resolution.brand, resolution.how)] += 1
            if resolution.how == "unknown":
                self.unknown[resolution.brand] += 1
