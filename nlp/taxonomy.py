"""Label taxonomy v1: the one place the label schema is defined.

Mirrors ``shared/docs/taxonomy.md``. The schema travels with every trained model
(``schema.json``); loading a model whose schema differs is an error, not a
silent mismatch (see :func:`check_schema`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

TAXONOMY_VERSION = "taxonomy.v1"

SENTIMENTS: tuple[str, ...] = ("negative", "neutral", "positive")


@dataclass(frozen=True)
class Theme:
    """A complaint theme: the key used in code and files, and what it means."""

    key: str
    definition: str


THEMES: tuple[Theme, ...] = (
    Theme(
        "waiting",
        "time lost waiting on the company: on hold, in a queue or line, for a reply, "
        "callback, refund, fix, delivery or departure",
    ),
    Theme(
        "ivr_menu",
        "automated phone menus, chatbots, canned or scripted replies, not being able to "
        "reach a human, being transferred around",
    ),
    Theme(
        "not_known",
        "the company does not know or recognise the customer: asked to repeat details or "
        "re-verify, history, status or loyalty ignored, records lost or wrong",
    ),
    Theme(
        "unresolved",
        "the problem survives contact: repeat contacts, broken promises, no follow-up, "
        "passed around with no fix",
    ),
    Theme(
        "staff_attitude",
        "how people at the company behaved: rude, dismissive, careless, unhelpful, incompetent",
    ),
    Theme(
        "self_service",
        "the tools a customer uses to help themselves (website, app account pages, booking, "
        "login, payment page, help centre, chat widget) broken, missing or forcing a call",
    ),
    Theme(
        "billing",
        "charges, fees, prices, refunds, payment or subscription billing problems",
    ),
    Theme(
        "product_failure",
        "the core product or service itself failed or was poor: outage, defect, wrong or "
        "missing order, lost or damaged items, late or cancelled flight",
    ),
    Theme(
        "marketing_spam",
        "unwanted marketing, ads, spam, pushy upselling, misuse of personal data",
    ),
)

THEME_KEYS: tuple[str, ...] = tuple(t.key for t in THEMES)


@dataclass(frozen=True)
class LabelSchema:
    """The labels a model predicts; saved next to every model and compared on load."""

    version: str = TAXONOMY_VERSION
    sentiments: tuple[str, ...] = SENTIMENTS
    themes: tuple[Theme, ...] = THEMES
    binary: tuple[str, ...] = field(default=("complaint", "churn_intent"))

    @property
    def theme_keys(self) -> tuple[str, ...]:
        return tuple(t.key for t in self.themes)

    @property
    def sentiment_id2label(self) -> dict[int, str]:
        return dict(enumerate(self.sentiments))

    @property
    def sentiment_label2id(self) -> dict[str, int]:
        return {label: i for i, label in enumerate(self.sentiments)}

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["sentiments"] = list(self.sentiments)
        data["binary"] = list(self.binary)
        data["themes"] = [asdict(t) for t in self.themes]
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LabelSchema:
        try:
            return cls(
                version=data["version"],
                sentiments=tuple(data["sentiments"]),
                themes=tuple(Theme(t["key"], t["definition"]) for t in data["themes"]),
                binary=tuple(data["binary"]),
            )
        except (KeyError, TypeError) as exc:
            raise SchemaMismatchError(
                f"label schema is malformed ({exc!r}); expected keys version, sentiments, "
                "themes (key, definition) and binary"
            ) from exc

    @classmethod
    def from_json(cls, text: str) -> LabelSchema:
        return cls.from_dict(json.loads(text))


SCHEMA = LabelSchema()


class SchemaMismatchError(ValueError):
    """A model was trained with a label schema other than the one this code expects."""


def check_schema(saved: LabelSchema, expected: LabelSchema = SCHEMA) -> None:
    """Raise if a model's saved schema differs from the code's in anything but wording.

    Definitions may be reworded between releases; keys, their order and the
    version may not.
    """
    problems = []
    if saved.version != expected.version:
        problems.append(f"version {saved.version!r} != {expected.version!r}")
    if saved.sentiments != expected.sentiments:
        problems.append(f"sentiments {list(saved.sentiments)} != {list(expected.sentiments)}")
    if saved.theme_keys != expected.theme_keys:
        problems.append(f"themes {list(saved.theme_keys)} != {list(expected.theme_keys)}")
    if saved.binary != expected.binary:
        problems.append(f"binary labels {list(saved.binary)} != {list(expected.binary)}")
    if problems:
        raise SchemaMismatchError(
            "model label schema does not match this code: "
            + "; ".join(problems)
            + ". Retrain the model with this version, or install the version it was trained with."
        )
