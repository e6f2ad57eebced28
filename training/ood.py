"""The out-of-domain evaluation: which industry a post is about, and which are held out.

Real users point the product at brands we have never seen. To measure that, whole
industries are held out of training, of weak-label fitting and of threshold fitting, and
their gold items form the **out-of-domain test** (``ood-test``). The gold items of the other
non-airline industries form **out-of-domain dev** (``ood-dev``): they train, select and
calibrate like gold dev. The split is by industry, frozen here before any model saw the
new data; moving an industry is a new evaluation, not an edit.

| industry | from | side |
|---|---|---|
| telecom & services | complaints-2019 `services` (telecoms, utilities, insurance, parcels) | test |
| software, streaming & games | complaints-2019 `software` (apps, Hulu, Ubisoft, cloud) | test |
| electronics | complaints-2019 `electronics` (phones, laptops, consoles, wearables) | test |
| banking & lending | banking77, NLU++ banking, CFPB accounts, cards, transfers, loans | test |
| retail, food, cars, other | complaints-2019 `retail`, `apparel`, `food`, `cars`, `other` | dev |
| hotels | NLU++ hotels | dev |
| e-commerce support | Bitext (generated requests) | dev |
| credit reporting & debt collection | CFPB credit reporting, debt collection | dev |
| airline (in-domain) | airline-2015, complaints-2019 `transport` | neither |
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from nlp.text import dedup_key
from training.annotation import SEARCHES, SUPPLEMENT

COMPLAINTS_2019_INDUSTRY = {
    "services": "telecom & services", "software": "software, streaming & games",
    "electronics": "electronics", "retail": "retail", "apparel": "retail", "food": "food",
    "cars": "cars", "other": "other", "transport": "airline", "random_tweet": "none",
    "random_reply": "none",
}
CFPB_DEV_DOMAINS = ("credit-reporting", "debt-collection")
HELD_OUT_INDUSTRIES = ("telecom & services", "software, streaming & games", "electronics",
                       "banking & lending")
IN_DOMAIN_INDUSTRIES = ("airline", "none")


def industry_of(row: Mapping) -> str:
    """The industry a dataset row is about (see the module table); ``none`` for chit-chat."""
    source, domain = row["source"], row.get("domain")
    if source == "airline-sentiment-2015":
        return "airline"
    if source == "complaints-2019":
        return COMPLAINTS_2019_INDUSTRY.get(str(domain), "other")
    if source == "banking77":
        return "banking & lending"
    if source == "nlu-plus-plus":
        return "hotels" if domain == "hotels" else "banking & lending"
    if source == "bitext-customer-support":
        return "e-commerce support"
    if source == "cfpb-complaints-sample":
        return ("credit reporting & debt collection" if domain in CFPB_DEV_DOMAINS
                else "banking & lending")
    if source.startswith("written-posts"):  # every written batch (training.corpus)
        return "written (training only)"
    return "other"


def is_held_out(row: Mapping) -> bool:
    """True for rows of a held-out industry: never trained on, never used to fit anything."""
    return industry_of(row) in HELD_OUT_INDUSTRIES


def ood_side(industry: str) -> str | None:
    """``ood-test`` for a held-out industry, ``ood-dev`` for another non-airline one."""
    if industry in HELD_OUT_INDUSTRIES:
        return "ood-test"
    if industry in IN_DOMAIN_INDUSTRIES:
        return None
    return "ood-dev"


# Leaving the brand said plainly, in any industry (a loose search: annotators decide).
CHURN_SEARCH = (
    r"switch(?:ing|ed)? (?:to|over|provider|carrier|bank)|cancel+(?:ing|ed)? (?:my|our|the) "
    r"(?:account|contract|service|subscription|membership|plan|card)|clos(?:e|ing|ed) (?:my|our|"
    r"the) account|\bleaving\b|done with|last time|goodbye|won.?t be (?:using|back|buying)|"
    r"my business|lost a customer|no longer|ex-?customer|never (?:again|use|buy|order|shop)|"
    r"unsubscrib|port(?:ed|ing)? my number|(?:another|new) (?:provider|bank|company|carrier)|"
    r"moving to|going back to|delet(?:e|ing|ed) (?:my )?(?:account|app)|uninstall|terminat")


@dataclass(frozen=True)
class Group:
    """Rows of one source and industry to draw from: a random share and search candidates."""

    source: str
    industry: str
    random: int
    per_search: int
    per_reason: int = 0  # items per dataset intent/issue (stratified), for intent datasets
    churn_extra: int = 0  # more churn-search candidates: churn is rare in every industry
    domains: tuple[str, ...] = ()  # restrict to these dataset domains (empty: all)


@dataclass(frozen=True)
class OodPlan:
    """The out-of-domain round of the pool: groups, seed, where item ids start."""

    groups: tuple[Group, ...] = field(default_factory=lambda: DEFAULT_GROUPS)
    seed: int = 2027
    first_number: int = 1161
    searches: tuple[str, ...] | None = None  # None: every theme and churn
    tag: str = "ood"


DEFAULT_GROUPS = (
    # held out (ood-test): public tweets first, then the banking requests and letters
    Group("complaints-2019", "telecom & services", 100, 8, domains=("services",),
          churn_extra=15),
    Group("complaints-2019", "software, streaming & games", 100, 8, domains=("software",),
          churn_extra=15),
    Group("complaints-2019", "electronics", 90, 7, domains=("electronics",), churn_extra=10),
    Group("banking77", "banking & lending", 10, 2, per_reason=1, churn_extra=12),
    Group("nlu-plus-plus", "banking & lending", 20, 2, domains=("banking",), churn_extra=10),
    Group("cfpb-complaints-sample", "banking & lending", 30, 2, churn_extra=6,
          domains=("bank-accounts", "cards", "money-transfer", "lending", "other-finance")),
    # other industries (ood-dev)
    Group("complaints-2019", "retail", 50, 4, domains=("retail", "apparel")),
    Group("complaints-2019", "food, cars, other", 45, 3, domains=("food", "cars", "other")),
    Group("nlu-plus-plus", "hotels", 25, 1, domains=("hotels",)),
    Group("bitext-customer-support", "e-commerce support", 0, 0, per_reason=3),
    Group("cfpb-complaints-sample", "credit reporting & debt collection", 30, 2,
          domains=CFPB_DEV_DOMAINS),
)


# The second out-of-domain round: the two themes the first left short of 20 test positives,
# searched tightly in the held-out industries only.
SUPPLEMENT_SEARCHES = {
    "ivr_menu2": r"\bautomated|press(?:ed)? \d|\brobot|\bbots?\b|\bmenu|transferr?ed|hung up|"
                 r"hang up|real person|\bhuman|get through|on hold|\bchat\b|call cent|"
                 r"\bscript|canned|auto.?reply|same (?:reply|response|answer)",
    "marketing_spam2": SUPPLEMENT["marketing_spam"] + r"|\bspam|unsolicited|opt(?:ed)? out|"
                       r"\bads?\b|junk|sales ?(?:call|pitch)|keep (?:calling|texting|emailing)",
}
SUPPLEMENT_GROUPS = (
    Group("complaints-2019", "telecom & services", 0, 25, domains=("services",)),
    Group("complaints-2019", "software, streaming & games", 0, 25, domains=("software",)),
    Group("complaints-2019", "electronics", 0, 20, domains=("electronics",)),
    Group("cfpb-complaints-sample", "banking & lending", 0, 10,
          domains=("bank-accounts", "cards", "money-transfer", "lending", "other-finance")),
)
SUPPLEMENT_PLAN_FIELDS = {"groups": SUPPLEMENT_GROUPS, "seed": 2028, "tag": "ood2",
                          "searches": tuple(SUPPLEMENT_SEARCHES)}


def draw_ood_pool(rows_by_dataset: Mapping[str, Sequence[Mapping]],
                  existing: Sequence[Mapping], plan: OodPlan = OodPlan()) -> list[dict]:
    """The out-of-domain round: per group a random sample, theme and churn search candidates,
    and per dataset intent a few items; none repeats a text already in ``existing``.

    Deterministic for a plan and the same datasets.
    """
    rng = np.random.default_rng(plan.seed)
    seen = {dedup_key(r["text"]) for r in existing if r.get("text")}
    searches = {**SEARCHES, "churn_intent": SEARCHES["churn_intent"] + "|" + CHURN_SEARCH}
    if plan.searches is not None:
        searches = {k: v for k, v in {**searches, **SUPPLEMENT_SEARCHES}.items()
                    if k in plan.searches}
    pool: list[dict] = []

    def take(row: Mapping, sample: str) -> bool:
        key = dedup_key(row["text"])
        if not key or key in seen:
            return False
        seen.add(key)
        pool.append({"source": row["source"], "post_id": row["post_id"], "text": row["text"],
                     "author_id": row.get("author_id"), "industry": industry_of(row),
                     "sample": sample})
        return True

    def draw(candidates: Sequence[Mapping], n: int, sample: str) -> None:
        taken = 0
        for i in rng.permutation(len(candidates)):
            if taken >= n:
                break
            taken += take(candidates[int(i)], sample)

    for group in plan.groups:
        rows = [r for r in rows_by_dataset[group.source]
                if not group.domains or r.get("domain") in group.domains]
        draw(rows, group.random, f"{plan.tag}-random:{group.industry}")
        for name, pattern in searches.items():
            regex = re.compile(pattern, re.IGNORECASE)
            extra = group.churn_extra if name == "churn_intent" else 0
            draw([r for r in rows if regex.search(r["text"])], group.per_search + extra,
                 f"{plan.tag}-search:{name}")
        if group.per_reason:
            for reason in sorted({str(r["reason"]) for r in rows if r.get("reason")}):
                draw([r for r in rows if r.get("reason") == reason], group.per_reason,
                     f"{plan.tag}-intent:{group.source}:{reason}")
    for number, item in enumerate(pool, start=plan.first_number):
        item["item_id"] = f"g{number:04d}"
    return pool
