"""Weak labels for the themes and churn intent: labelling functions and a calibrated vote.

A labelling function (LF) looks at one row of the unified dataset schema and votes
1 (the label applies), 0 (it does not) or abstains (None). LFs are patterns written
from the taxonomy's definitions, the airline ``negativereason`` mapping, dataset
labels that rule a theme out, and conversation cues ("any update?").

**Combination: a calibrated vote, not a generative label model.** For each label:

- if an LF votes 0, the weak probability is the gold-dev rate of the label among
  items where an LF voted 0 (near zero);
- else if LFs vote 1, it is the gold-dev precision of the most precise one that fired
  (Laplace-smoothed). The maximum, not a noisy-OR: our LFs share words and fire
  together, so treating them as independent would overstate confidence;
- else it is the label's rate among gold-dev items of the *random* sample on which
  no LF fired (the residual a pattern misses), so prevalence is not inflated by the
  search-drawn items.

A generative label model (Snorkel's) needs several LFs per label with conditionally
independent errors to estimate accuracies without gold; here there are two to four
positive-only, correlated LFs per label and a gold dev set, so estimating each LF's
precision on that gold directly is both simpler and more faithful.

LFs with dev precision below ``MIN_PRECISION``, or that fire on fewer than
``MIN_FIRES`` dev items (their precision is unmeasured), are dropped from the vote and
reported as dropped.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from nlp.taxonomy import THEME_KEYS
from training.labels import map_airline_reason, map_intent

WEAK_KEYS = (*THEME_KEYS, "churn_intent")
MIN_PRECISION = 0.5
MIN_FIRES = 3

Vote = int | None
Row = Mapping[str, object]

_N = r"(?:\d+|two|three|four|five|six|several|multiple|many|numerous)"
_DURATION = rf"{_N}\s*\+?\s*(?:hours?|hrs?|minutes?|mins?|days?)"


@dataclass(frozen=True)
class LabelingFunction:
    """One labelling function: which label it votes on, its name, and the function."""

    key: str
    name: str
    vote: Callable[[Row], Vote]


def _pattern(key: str, name: str, pattern: str) -> LabelingFunction:
    regex = re.compile(pattern, re.IGNORECASE)

    def vote(row: Row) -> Vote:
        return 1 if regex.search(str(row["text"])) else None

    return LabelingFunction(key, name, vote)


def _airline_reason(theme: str) -> LabelingFunction:
    def vote(row: Row) -> Vote:
        if row.get("source") != "airline-sentiment-2015" or not row.get("reason"):
            return None
        return 1 if theme in map_airline_reason(str(row["reason"])) else None

    return LabelingFunction(theme, f"{theme}:airline_reason", vote)


def _intent(key: str, polarity: int) -> LabelingFunction:
    """A dataset intent or issue that implies the label (``training.labels.map_intent``):
    ``polarity`` 1 votes yes where the map says so; 0 votes no on plain questions (themes)
    and on every mapped intent other than leaving (churn)."""

    def vote(row: Row) -> Vote:
        mapped = map_intent(row)
        if mapped is None:
            return None
        if key == "churn_intent":
            said = mapped.churn
        else:
            said = 1 if key in mapped.themes else (0 if mapped.complaint == 0 else None)
        return said if said == polarity else None

    return LabelingFunction(key, f"{key}:intent_{'yes' if polarity else 'no'}", vote)


def _no_complaint(key: str) -> LabelingFunction:
    """Themes apply only to complaints: a gold 'no complaint' or 'positive' rules them out."""

    def vote(row: Row) -> Vote:
        if row.get("complaint") == 0 or row.get("sentiment") == "positive":
            return 0
        return None

    return LabelingFunction(key, f"{key}:gold_not_complaint", vote)


PATTERNS: dict[str, dict[str, str]] = {
    "waiting": {
        "on_hold": r"\bon hold\b|\bhold (?:time|music)|\bhold for\b|\bput (?:me )?on hold",
        "duration": rf"\b(?:wait\w*|hold|line|queue|sitting|sat|stuck)\b.{{0,40}}\b{_DURATION}"
                    rf"|\b{_DURATION}\b.{{0,40}}\b(?:wait\w*|hold|line|queue|delay\w*|sitting|"
                    r"on the phone|tarmac)",
        "still_waiting": r"\bstill (?:waiting|no (?:word|answer|reply|response|refund|update)|"
                         r"haven'?t (?:heard|received|got))",
        "any_update": r"\bany (?:update|news|word|response)s?\b|\bhello+\s*\?",
        "long_line": r"\b(?:long|huge|endless) (?:line|lines|queue|wait)\b",
    },
    "ivr_menu": {
        "phone_tree": r"\bpress(?:ed|ing)? \d|\bautomated\b|\bmenu\b|\bphone tree\b|\brobot\w*"
                      r"|\bbots?\b|\bchat ?bot",
        "no_human": r"\b(?:real|live|actual) (?:person|human|agent)|\btalk to (?:a|an) "
                    r"(?:human|person)|\bcan'?t get through\b|\bhung up\b|\bhangs? up\b|"
                    r"\bdisconnected\b",
        "transfer": r"\btransferr?(?:ed|ing)?\b|\bpassed (?:me )?around\b",
        "canned": r"\bcanned\b|\bauto.?(?:reply|response)|\bcopy.?(?:and.?)?paste|\bscripted?\b|"
                  r"\bsame (?:generic )?(?:reply|response|answer)",
    },
    "not_known": {
        "repeat_info": r"\b(?:again|repeat\w*|re-?enter\w*|re-?verif\w*|third time|3rd time|"
                       r"every time)\b.{0,40}\b(?:account|number|info\w*|details|name|address|"
                       r"confirmation|story|verif\w*|password)",
        "loyalty_ignored": r"\bloyal (?:customer|member|flyer)|\b(?:years|decades) (?:as a|of "
                           r"being a|with you|loyal)|\b(?:gold|platinum|silver|diamond|elite|"
                           r"medallion|premier|a-list|1k)\b.{0,40}\b(?:member|status|treat\w*)",
        "no_record": r"\bno record\b|\bdoesn'?t (?:exist|show)\b|\b(?:lost|no) (?:my )?"
                     r"(?:reservation|booking|record)\b|\btreat\w* (?:me )?like (?:a|an) "
                     r"(?:stranger|nobody|number|criminal)",
    },
    "unresolved": {
        "repeat_contact": rf"\b(?:called|calling|call|emailed|tweeted|contacted|asked|spoke|"
                          rf"talked|dm'?d|messaged)\b.{{0,30}}\b{_N} times\b|\b{_N} "
                          r"(?:calls|emails|attempts|tweets|dms)\b",
        "still_broken": r"\bstill (?:not|no|haven'?t|hasn'?t|broken|nothing|unresolved|"
                        r"waiting|can'?t|cannot|doesn'?t)\b",
        "no_followup": r"\bnever (?:called|heard|got|received|responded|replied|followed)|"
                       r"\bno (?:response|reply|answer|follow.?up)\b|"
                       r"(?:said|promised|told me)\b.{0,30}\b(?:would|will|'d) (?:call|email|"
                       r"fix|refund|get back|contact|follow)",
    },
    "staff_attitude": {
        "rude": r"\brude\w*|\battitude\b|\bunprofessional|\bunhelpful|\bincompeten\w*|"
                r"\bclueless\b|\bdismissive|\blaughed at\b|\byell\w*|\bcondescending|"
                r"\bdisrespect\w*|\bnasty\b|couldn'?t care less|\bdid(?:n'?t| not) care\b",
        "bad_staff": r"\b(?:agent|staff|employee|attendant|crew|rep|representative|supervisor|"
                     r"manager|pilot|gate agent)s?\b.{0,40}\b(?:rude|unhelpful|useless|awful|"
                     r"horrible|terrible|worst|lied|ignored|refused|incompetent|no help)",
    },
    "self_service": {
        "broken_tool": r"\b(?:website|web site|site|app|online|portal|kiosk|log ?in|password|"
                       r"chat)\b.{0,40}\b(?:down|crash\w*|error\w*|broken|not working|"
                       r"doesn'?t work|won'?t (?:let|load|work)|glitch\w*|bug\w*|fail\w*|"
                       r"useless)",
        "cannot_online": r"\b(?:can'?t|cannot|unable to|won'?t let me)\b.{0,30}\b(?:online|"
                         r"on the (?:website|site|app)|log ?in|check ?in|book|change)\b.{0,20}"
                         r"\b(?:online|website|site|app)",
        "forced_to_call": r"\b(?:had|have|forced|need) to call\b|\bno way to\b.{0,30}\bonline",
    },
    "billing": {
        "money": r"\b(?:charged|overcharg\w*|charg(?:e|ing) me|double charg\w*|fees?|refund\w*|"
                 r"billed|billing|bill\b|overpriced|money back|reimburs\w*|credit card|"
                 r"payment|subscription)|\$\s?\d",
    },
    "product_failure": {
        "flight_failure": r"\bcancel+(?:ed|ation)|cancelled flight\w*|\blate flight\b|"
                          r"\bdelay(?:ed|s)?\b|\bmissed (?:my )?(?:connection|flight)|"
                          r"\bstranded\b|\bdiverted\b",
        "lost_damaged": r"\b(?:lost|missing|damaged|broken|destroyed)\b.{0,20}\b(?:bag|bags|"
                        r"luggage|suitcase|item|order|package)|\b(?:bag|bags|luggage|suitcase|"
                        r"order|package)\b.{0,20}\b(?:lost|missing|damaged|broken|never arrived)",
        "defect": r"\b(?:outage|not working|doesn'?t work|stopped working|defect\w*|broken|"
                  r"dirty|crash(?:es|ed)?|wrong order|never arrived|cold food|no wifi|"
                  r"wi-?fi (?:is )?(?:down|not working))\b",
    },
    "marketing_spam": {
        "spam": r"\bspam\w*|\bjunk mail|\bunsubscribe|\bstop (?:sending|emailing|texting|"
                r"calling)|\btoo many (?:emails|ads|texts|notifications)|\bpushy\b|\bupsell\w*|"
                r"\btelemarket\w*|\brobocall\w*|\bsold my (?:data|info\w*)",
        "ads": r"\b(?:ads|adverts?|commercials|promo\w*|offers?|newsletters?|e-?mails?|texts?"
               r"|notifications)\b.{0,30}\b(?:every|constantly|all (?:day|the time)|annoying|"
               r"stop)",
    },
    "churn_intent": {
        "never_again": r"\bnever (?:fly\w*|use|using|buy\w*|book\w*|shop\w*|order\w*|choose|"
                       r"go\w*)\b.{0,25}\b(?:you|u|again|with)|\bnever again\b|\blast time "
                       r"(?:i|we)\b",
        "switching": r"\bswitch\w* (?:to|over|airlines|carriers|providers)|\btake (?:my|our) "
                     r"(?:business|money) elsewhere|\b(?:find\w*|looking for) (?:a new|another) "
                     r"(?:airline|provider|carrier|bank|company)|\bother airlines?\b.{0,30}"
                     r"\b(?:from now|next time|instead)",
        "cancel_account": r"\b(?:cancel+(?:ing|ed)?|clos(?:e|ing)|delet(?:e|ing)) (?:my|the|"
                          r"your) (?:account|subscription|membership|card|service|contract|"
                          r"plan|app)",
        "done_with": r"\b(?:done|finished) with (?:you|u|this|your)|\bgoodbye\b|\blost (?:a|"
                     r"another) (?:loyal )?customer|\bno longer (?:a customer|fly\w*|use\w*)|"
                     r"\bex-?customer|\bwon'?t be (?:flying|using|buying|back|booking)",
    },
}


def labeling_functions() -> list[LabelingFunction]:
    """Every labelling function, patterns first, then dataset-label LFs."""
    lfs = [_pattern(key, f"{key}:{name}", pattern)
           for key, patterns in PATTERNS.items() for name, pattern in patterns.items()]
    lfs += [_airline_reason(t) for t in ("waiting", "staff_attitude", "product_failure")]
    lfs += [_no_complaint(t) for t in THEME_KEYS]
    lfs += [_intent(key, polarity) for key in WEAK_KEYS for polarity in (1, 0)]
    return lfs


def apply_lfs(rows: Sequence[Row], lfs: Sequence[LabelingFunction]) -> list[list[Vote]]:
    """The vote matrix: one list of votes per row, in ``lfs`` order."""
    return [[lf.vote(row) for lf in lfs] for row in rows]


@dataclass(frozen=True)
class LFStats:
    """How an LF does on gold dev: how often it fires there and in the corpus, how right."""

    name: str
    key: str
    polarity: int
    coverage: float  # share of corpus rows it votes on
    fires_dev: int
    correct_dev: int
    kept: bool
    recall_dev: float = 0.0  # share of dev items with its vote as the gold value that it finds

    @property
    def precision(self) -> float:
        """Laplace-smoothed dev precision of its votes."""
        return (self.correct_dev + 1) / (self.fires_dev + 2)


@dataclass(frozen=True)
class WeakModel:
    """The calibrated vote: kept LFs with their dev precision, and the fallback rates."""

    lfs: tuple[LabelingFunction, ...]
    stats: tuple[LFStats, ...]
    negative_rate: Mapping[str, float]  # P(label | an LF voted 0)
    residual_rate: Mapping[str, float]  # P(label | nothing fired), random dev items

    def probabilities(self, row: Row) -> dict[str, float]:
        """The weak probability of every label in ``WEAK_KEYS`` for one row."""
        out = {}
        by_key: dict[str, list[tuple[LabelingFunction, LFStats]]] = {}
        for lf, stat in zip(self.lfs, self.stats, strict=True):
            if stat.kept:
                by_key.setdefault(lf.key, []).append((lf, stat))
        for key in WEAK_KEYS:
            votes = [(lf.vote(row), stat) for lf, stat in by_key.get(key, [])]
            if any(v == 0 for v, _ in votes):
                out[key] = self.negative_rate[key]
            elif fired := [stat.precision for v, stat in votes if v == 1]:
                out[key] = max(fired)
            else:
                out[key] = self.residual_rate[key]
        return out


def gold_value(gold: Mapping, key: str) -> int:
    return int(key in gold["themes"]) if key in THEME_KEYS else int(gold[key])


def fit_weak_model(corpus_rows: Sequence[Row], dev_rows: Sequence[Row],
                   dev_gold: Sequence[Mapping], dev_random: Sequence[bool]) -> WeakModel:
    """Measure every LF on gold dev and the corpus; keep the precise ones; fit the fallbacks."""
    lfs = labeling_functions()
    corpus_votes = apply_lfs(corpus_rows, lfs)
    dev_votes = apply_lfs(dev_rows, lfs)
    stats = []
    # A "no" vote overrides every "yes" (WeakModel.probabilities), so a "yes" LF is measured
    # where it decides: on dev items no "no" LF of its label vetoes.
    vetoed = {key: {i for i, votes in enumerate(dev_votes)
                    if any(votes[j] == 0 for j, lf in enumerate(lfs) if lf.key == key)}
              for key in WEAK_KEYS}
    for j, lf in enumerate(lfs):
        polarity = 0 if lf.name.endswith((":gold_not_complaint", ":intent_no")) else 1
        fired = [i for i, votes in enumerate(dev_votes) if votes[j] is not None
                 and (polarity == 0 or i not in vetoed[lf.key])]
        correct = sum(gold_value(dev_gold[i], lf.key) == dev_votes[i][j] for i in fired)
        coverage = sum(v[j] is not None for v in corpus_votes) / max(len(corpus_votes), 1)
        precision = (correct + 1) / (len(fired) + 2)
        kept = len(fired) >= MIN_FIRES and precision >= MIN_PRECISION  # unmeasured: dropped
        targets = sum(gold_value(g, lf.key) == polarity for g in dev_gold)
        recall = correct / targets if targets else 0.0
        stats.append(LFStats(lf.name, lf.key, polarity, coverage, len(fired), correct, kept,
                             recall))
    negative_rate, residual_rate = {}, {}
    for key in WEAK_KEYS:
        idx = [j for j, s in enumerate(stats) if s.key == key and s.kept]
        negatives = [i for i, v in enumerate(dev_votes) if any(v[j] == 0 for j in idx)]
        silent = [i for i, v in enumerate(dev_votes)
                  if dev_random[i] and all(v[j] is None for j in idx)]
        negative_rate[key] = (sum(gold_value(dev_gold[i], key) for i in negatives) + 0.5) / (
            len(negatives) + 1)
        residual_rate[key] = (sum(gold_value(dev_gold[i], key) for i in silent) + 0.5) / (
            len(silent) + 1)
    return WeakModel(tuple(lfs), tuple(stats), negative_rate, residual_rate)


def evaluate_weak(model: WeakModel, rows: Sequence[Row], gold: Sequence[Mapping],
                  threshold: float = 0.5) -> dict[str, dict[str, float]]:
    """Precision, recall and F1 of the weak labels (probability >= threshold) against gold."""
    probs = [model.probabilities(row) for row in rows]
    out = {}
    for key in WEAK_KEYS:
        predicted = [p[key] >= threshold for p in probs]
        actual = [bool(gold_value(g, key)) for g in gold]
        tp = sum(p and a for p, a in zip(predicted, actual, strict=True))
        fp = sum(p and not a for p, a in zip(predicted, actual, strict=True))
        fn = sum(a and not p for p, a in zip(predicted, actual, strict=True))
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        out[key] = {"precision": precision, "recall": recall, "f1": f1,
                    "support": tp + fn, "predicted": tp + fp}
    return out
