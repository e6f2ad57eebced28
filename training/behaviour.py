"""Behaviour checks for the post classifier, CheckList style (Ribeiro et al., 2020).

Three suites of hand-written cases:

- ``mft`` (minimum functionality): a post and one label it must, or must not, get.
- ``inv`` (invariance): a post and an edit that keeps its meaning (an @handle, a link,
  upper or lower case, an emoji, another brand of the same kind); no decision may change.
- ``dir`` (directional): a post and an appended sentence with a known effect on one
  label's probability ("I'm cancelling and switching to ..." must raise churn intent).

:func:`run_behaviour` scores every distinct text in one ``predict`` call and returns a
:class:`BehaviourReport`: pass rates per suite and per label, and every failure. A
probability becomes a decision at ``clf.thresholds[label]`` where the classifier has
one, else at 0.5. A label the model does not predict (a theme left out, churn intent
``None``) is skipped, not failed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from nlp.taxonomy import SENTIMENTS, THEME_KEYS
from nlp.types import Prediction
from training.behaviour_cases import CHURN_CASES, NEGATION_CASES

SUITES = ("mft", "inv", "dir")
# Minimum-functionality cases come in groups with their own bars (issue [H]): the core
# cases per label, churn intent said plainly in ten industries with its near-misses
# ("cancel my order"), and negation and contrast ("not bad at all").
MFT_GROUPS = {"core": "core cases per label", "churn": "churn intent across industries",
              "negation": "negation and contrast"}
SUITE_NAMES = {"mft": "minimum functionality", "inv": "invariance", "dir": "directional"}
DEFAULT_THRESHOLD = 0.5
# A probability this close to 1 (or 0) has little room left: a check that it rises
# (or falls) passes while it stays there.
SATURATED = 0.9
# How far a probability may drift upwards in a "must not rise" check.
DIR_TOLERANCE = 0.05

BINARY_LABELS = ("complaint", *THEME_KEYS, "churn_intent")
SENTIMENT_LABELS = tuple(f"sentiment:{s}" for s in SENTIMENTS)
LABELS = BINARY_LABELS + SENTIMENT_LABELS
# Invariance compares the predicted sentiment as one decision, not three.
INV_LABELS = ("sentiment", *BINARY_LABELS)
DIRECTIONS = {"up": "to rise", "down": "to fall",
              "not_up": f"not to rise by more than {DIR_TOLERANCE}"}


class Predictor(Protocol):
    """All the behaviour suite needs of a classifier (``thresholds`` is optional)."""

    def predict(self, texts: Sequence[str]) -> list[Prediction]: ...


# --- Edits ----------------------------------------------------------------------------

# A brand named in a post -> a brand of the same kind: the swap of the invariance suite,
# and the competitor a directional "switching to ..." sentence names.
BRAND_SWAPS: Mapping[str, str] = {
    "Vodafone": "Three", "EE": "O2", "Verizon": "Spectrum", "Xfinity": "Optimum",
    "Netflix": "Hulu", "Spotify": "Tidal",
    "Amazon": "eBay", "Argos": "Currys", "Target": "Walmart",
    "Deliveroo": "UberEats", "DoorDash": "Grubhub",
    "Barclays": "Monzo", "Monzo": "Starling", "Chase": "Citi",
    "BritishGas": "Octopus", "Aviva": "Admiral", "Geico": "Progressive",
    "United": "Delta", "Ryanair": "easyJet",
}
_BRAND_RE = re.compile(
    r"(?<!\w)(" + "|".join(sorted(map(re.escape, BRAND_SWAPS), key=len, reverse=True)) + r")(?!\w)"
)


def find_brand(text: str) -> str | None:
    """The first brand of :data:`BRAND_SWAPS` named in ``text`` (case-sensitive), if any."""
    match = _BRAND_RE.search(text)
    return match.group(1) if match else None


def _swap_brand(text: str) -> str:
    return _BRAND_RE.sub(lambda match: BRAND_SWAPS[match.group(1)], text)


PERTURBATIONS: Mapping[str, Callable[[str], str]] = {
    # a reply in a thread starts with the handles it answers
    "add_handle": lambda text: f"@jess_m88 {text}",
    "add_url": lambda text: f"{text} https://t.co/4kVq9ZpL2x",
    "upper": str.upper,
    "lower": str.lower,
    # pleading or thanks, whichever the post is: it fits every tone without changing it
    "add_emoji": lambda text: f"{text} 🙏",
    "swap_brand": _swap_brand,
}


@dataclass(frozen=True)
class Change:
    """A sentence appended to a post, and how it must move one label's probability."""

    sentence: str
    label: str
    direction: str

    def __post_init__(self) -> None:
        if self.label not in LABELS:
            raise ValueError(f"Change label must be one of {LABELS}, got {self.label!r}")
        if self.direction not in DIRECTIONS:
            raise ValueError(
                f"Change direction must be one of {tuple(DIRECTIONS)}, got {self.direction!r}"
            )


# --- Cases ----------------------------------------------------------------------------

def _require_text(kind: str, text: str) -> None:
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"{kind}.text must be a non-empty string, got {text!r}")


@dataclass(frozen=True)
class MFTCase:
    """A post and one label it must get (``expected=True``) or must not get."""

    text: str
    label: str
    expected: bool
    group: str = "core"  # one of MFT_GROUPS: pass rates are also reported per group

    def __post_init__(self) -> None:
        _require_text("MFTCase", self.text)
        if self.label not in LABELS:
            raise ValueError(f"MFTCase label must be one of {LABELS}, got {self.label!r}")
        if self.group not in MFT_GROUPS:
            raise ValueError(f"MFTCase group must be one of {tuple(MFT_GROUPS)}, "
                             f"got {self.group!r}")

    @property
    def model_input(self) -> str:
        return self.text

    def describe(self) -> str:
        return f"{self.label}: {self.text!r}"


@dataclass(frozen=True)
class InvCase:
    """A post and an edit (a :data:`PERTURBATIONS` key) that must not change any decision."""

    text: str
    perturbation: str

    def __post_init__(self) -> None:
        _require_text("InvCase", self.text)
        if self.perturbation not in PERTURBATIONS:
            raise ValueError(f"InvCase perturbation must be one of {tuple(PERTURBATIONS)}, "
                             f"got {self.perturbation!r}")
        if self.perturbation == "swap_brand" and find_brand(self.text) is None:
            raise ValueError(f"swap_brand needs a post naming one of {tuple(BRAND_SWAPS)}, "
                             f"got {self.text!r}")

    @property
    def model_input(self) -> str:
        return PERTURBATIONS[self.perturbation](self.text)

    def describe(self) -> str:
        return f"{self.perturbation}: {self.text!r} -> {self.model_input!r}"


@dataclass(frozen=True)
class DirCase:
    """A post and a sentence appended to it (a :data:`CHANGES` key) with a known effect."""

    text: str
    change: str

    def __post_init__(self) -> None:
        _require_text("DirCase", self.text)
        if self.change not in CHANGES:
            raise ValueError(f"DirCase change must be one of {tuple(CHANGES)}, "
                             f"got {self.change!r}")

    @property
    def label(self) -> str:
        return CHANGES[self.change].label

    @property
    def model_input(self) -> str:
        brand = find_brand(self.text)
        competitor = BRAND_SWAPS[brand] if brand else "someone else"
        return f"{self.text} {CHANGES[self.change].sentence.format(competitor=competitor)}"

    def describe(self) -> str:
        return f"{self.change}: {self.model_input!r}"


Case = MFTCase | InvCase | DirCase


# --- Report ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Tally:
    """How many cases a suite or label had, how many passed, and how many were skipped."""

    cases: int = 0
    passed: int = 0
    skipped: int = 0

    @property
    def failed(self) -> int:
        return self.cases - self.passed - self.skipped

    @property
    def pass_rate(self) -> float | None:
        """Passed over checked (skipped cases left out); None when nothing was checked."""
        checked = self.cases - self.skipped
        return self.passed / checked if checked else None

    def add(self, passed: bool | None) -> Tally:
        return Tally(self.cases + 1, self.passed + (passed is True),
                     self.skipped + (passed is None))

    def to_dict(self) -> dict[str, Any]:
        return {"cases": self.cases, "passed": self.passed, "failed": self.failed,
                "skipped": self.skipped, "pass_rate": self.pass_rate}


@dataclass(frozen=True)
class Failure:
    """A case the classifier got wrong: what was expected and what came out."""

    suite: str
    case: Case
    expected: str
    got: str

    def __str__(self) -> str:
        return f"[{self.suite}] {self.case.describe()}: expected {self.expected}, got {self.got}"

    def to_dict(self) -> dict[str, Any]:
        return {"suite": self.suite, "case": asdict(self.case),
                "model_input": self.case.model_input, "expected": self.expected, "got": self.got}


@dataclass(frozen=True)
class BehaviourReport:
    """Pass rates of one classifier per suite, per label and per edit, and every failure."""

    suites: Mapping[str, Tally]
    labels: Mapping[str, Mapping[str, Tally]]  # suite -> label -> tally
    perturbations: Mapping[str, Tally]  # invariance only
    failures: tuple[Failure, ...]
    groups: Mapping[str, Tally] = None  # type: ignore[assignment]  # MFT group -> tally

    def pass_rate(self, suite: str) -> float | None:
        return self.suites[suite].pass_rate

    def group_pass_rate(self, group: str) -> float | None:
        tally = (self.groups or {}).get(group)
        return tally.pass_rate if tally else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "suites": {name: tally.to_dict() for name, tally in self.suites.items()},
            "labels": {suite: {label: tally.to_dict() for label, tally in by_label.items()}
                       for suite, by_label in self.labels.items()},
            "perturbations": {name: t.to_dict() for name, t in self.perturbations.items()},
            "groups": {name: t.to_dict() for name, t in (self.groups or {}).items()},
            "failures": [failure.to_dict() for failure in self.failures],
        }

    def to_markdown(self) -> str:
        """Two small tables for a model card: per suite, then per label."""
        lines = ["| suite | cases | passed | skipped | pass rate |", "|---|---:|---:|---:|---:|"]
        for suite, tally in self.suites.items():
            lines.append(f"| {SUITE_NAMES[suite]} | {tally.cases} | {tally.passed} | "
                         f"{tally.skipped} | {_percent(tally.pass_rate)} |")
            if suite == "mft":
                for group, gtally in (self.groups or {}).items():
                    lines.append(f"| – {MFT_GROUPS[group]} | {gtally.cases} | "
                                 f"{gtally.passed} | {gtally.skipped} | "
                                 f"{_percent(gtally.pass_rate)} |")
        lines += ["", "| label | " + " | ".join(s.upper() for s in SUITES) + " |",
                  "|---|" + "---:|" * len(SUITES)]
        for label in _REPORT_ORDER:
            cells = [self.labels[suite].get(label) for suite in SUITES]
            if any(cells):
                lines.append(f"| {label} | " + " | ".join(map(_fraction, cells)) + " |")
        return "\n".join(lines) + "\n"


_REPORT_ORDER = (*BINARY_LABELS, "sentiment", *SENTIMENT_LABELS)


def _percent(rate: float | None) -> str:
    return "–" if rate is None else f"{rate:.1%}"


def _fraction(tally: Tally | None) -> str:
    if tally is None or tally.pass_rate is None:
        return "–"
    return f"{tally.passed}/{tally.cases - tally.skipped}"


# --- Runner ---------------------------------------------------------------------------

def label_probability(prediction: Prediction, label: str) -> float | None:
    """The probability a prediction gives ``label`` (a :data:`LABELS` key); None if unpredicted."""
    if label == "complaint":
        return prediction.complaint
    if label == "churn_intent":
        return prediction.churn_intent
    if label in SENTIMENT_LABELS:
        return prediction.sentiment_probs[label.removeprefix("sentiment:")]
    return prediction.themes.get(label)


def decide(prediction: Prediction, label: str, thresholds: Mapping[str, float]) -> bool | None:
    """Whether a prediction carries ``label``: the argmax for sentiment, a threshold otherwise."""
    if label in SENTIMENT_LABELS:
        return prediction.sentiment == label.removeprefix("sentiment:")
    p = label_probability(prediction, label)
    return None if p is None else p >= thresholds[label]


def run_behaviour(clf: Predictor, mft_cases: Sequence[MFTCase] | None = None,
                  inv_cases: Sequence[InvCase] | None = None,
                  dir_cases: Sequence[DirCase] | None = None) -> BehaviourReport:
    """Run the behaviour suites on a classifier.

    Args:
        clf: anything with ``predict(texts) -> list[Prediction]``, and optionally
            ``thresholds`` (label -> decision threshold; 0.5 for a label it leaves out).
        mft_cases: minimum-functionality cases; :data:`MFT_CASES` when None.
        inv_cases: invariance cases; :data:`INV_CASES` when None.
        dir_cases: directional cases; :data:`DIR_CASES` when None.

    Returns:
        The report: per suite, per label and per perturbation tallies, and the failures
        in case order.

    Raises:
        ValueError: if a threshold is outside [0, 1], or ``predict`` does not return one
            prediction per text.
    """
    suites: dict[str, Sequence[Case]] = {
        "mft": MFT_CASES if mft_cases is None else tuple(mft_cases),
        "inv": INV_CASES if inv_cases is None else tuple(inv_cases),
        "dir": DIR_CASES if dir_cases is None else tuple(dir_cases),
    }
    thresholds = _thresholds(clf)
    texts = [text for cases in suites.values() for case in cases
             for text in (case.text, case.model_input)]
    predicted = _predict_once(clf, texts)
    checks = {"mft": _check_mft, "inv": _check_inv, "dir": _check_dir}

    totals = {suite: Tally() for suite in SUITES}
    by_label: dict[str, dict[str, Tally]] = {suite: {} for suite in SUITES}
    perturbations: dict[str, Tally] = {}
    groups: dict[str, Tally] = {}
    failures = []
    for suite, cases in suites.items():
        for case in cases:
            verdict = checks[suite](case, predicted[case.text], predicted[case.model_input],
                                    thresholds)
            totals[suite] = totals[suite].add(verdict.passed)
            for label, passed in verdict.labels.items():
                by_label[suite][label] = by_label[suite].get(label, Tally()).add(passed)
            if isinstance(case, MFTCase):
                groups[case.group] = groups.get(case.group, Tally()).add(verdict.passed)
            if isinstance(case, InvCase):
                name = case.perturbation
                perturbations[name] = perturbations.get(name, Tally()).add(verdict.passed)
            if verdict.passed is False:
                failures.append(Failure(suite, case, verdict.expected, verdict.got))
    return BehaviourReport(
        suites=totals,
        labels={suite: {label: tallies[label] for label in _REPORT_ORDER if label in tallies}
                for suite, tallies in by_label.items()},
        perturbations={name: perturbations[name] for name in PERTURBATIONS
                       if name in perturbations},
        failures=tuple(failures),
        groups={name: groups[name] for name in MFT_GROUPS if name in groups},
    )


@dataclass(frozen=True)
class _Verdict:
    passed: bool | None  # None: the model does not predict the label checked
    labels: Mapping[str, bool | None]
    expected: str
    got: str


def _thresholds(clf: Predictor) -> dict[str, float]:
    given = getattr(clf, "thresholds", None) or {}
    thresholds = {label: float(given.get(label, DEFAULT_THRESHOLD)) for label in BINARY_LABELS}
    bad = {label: t for label, t in thresholds.items() if not 0.0 <= t <= 1.0}
    if bad:
        raise ValueError(f"classifier thresholds must be in [0, 1], got {bad}")
    return thresholds


def _predict_once(clf: Predictor, texts: Sequence[str]) -> dict[str, Prediction]:
    unique = list(dict.fromkeys(texts))
    predictions = list(clf.predict(unique))
    if len(predictions) != len(unique):
        raise ValueError(f"{type(clf).__name__}.predict returned {len(predictions)} predictions "
                         f"for {len(unique)} texts; expected one per text, in order")
    return dict(zip(unique, predictions, strict=True))


def _shown(value: bool | str | None) -> str:
    if value is None:
        return "not predicted"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return value


def _check_mft(case: MFTCase, prediction: Prediction, _: Prediction,
               thresholds: Mapping[str, float]) -> _Verdict:
    decision = decide(prediction, case.label, thresholds)
    passed = None if decision is None else decision == case.expected
    if case.label in SENTIMENT_LABELS:
        got = f"sentiment {prediction.sentiment}"
    elif decision is None:
        got = "not predicted"
    else:
        got = (f"{_shown(decision)} (p={label_probability(prediction, case.label):.3f}, "
               f"threshold {thresholds[case.label]})")
    return _Verdict(passed, {case.label: passed}, _shown(case.expected), got)


def _decisions(prediction: Prediction, thresholds: Mapping[str, float]) -> dict[str, Any]:
    return {"sentiment": prediction.sentiment,
            **{label: decide(prediction, label, thresholds) for label in BINARY_LABELS}}


def _check_inv(case: InvCase, before: Prediction, after: Prediction,
               thresholds: Mapping[str, float]) -> _Verdict:
    old, new = _decisions(before, thresholds), _decisions(after, thresholds)
    same = {label: None if old[label] is None and new[label] is None else old[label] == new[label]
            for label in INV_LABELS}
    flips = [f"{label} {_shown(old[label])} -> {_shown(new[label])}"
             for label, ok in same.items() if ok is False]
    return _Verdict(not flips, same, "no decision to change", "; ".join(flips))


def _check_dir(case: DirCase, before: Prediction, after: Prediction,
               _: Mapping[str, float]) -> _Verdict:
    change = CHANGES[case.change]
    old, new = label_probability(before, change.label), label_probability(after, change.label)
    if old is None or new is None:
        passed, got = None, "not predicted"
    else:
        passed, got = _moved_as_expected(old, new, change.direction), f"{old:.3f} -> {new:.3f}"
    return _Verdict(passed, {change.label: passed},
                    f"p({change.label}) {DIRECTIONS[change.direction]}", got)


def _moved_as_expected(old: float, new: float, direction: str) -> bool:
    if direction == "up":
        return new > old or new >= SATURATED
    if direction == "down":
        return new < old or new <= 1.0 - SATURATED
    return new <= old + DIR_TOLERANCE


# --- The cases ------------------------------------------------------------------------
# Short, informal posts in the register of replies to brand accounts, mostly outside
# airlines (the only domain of the labelled training data): telecoms, streaming, retail,
# food delivery, banking, utilities and insurance. Several name a theme without its
# obvious keywords. Labels follow shared/docs/taxonomy.md.

MFT_POSITIVES: Mapping[str, tuple[str, ...]] = {
    "complaint": (
        "@Vodafone asked three times how to change my tariff and still no answer",
        "@Target ordered a blue sofa, got a green one",
        "@Netflix removed the one show I actually watch. great",
        "@Chase love getting a fraud alert every time I buy groceries 🙃",
        "@Deliveroo paid for priority delivery and it came last",
        "@BritishGas worst customer service I've ever had",
        "@Spotify why does the new update hide my liked songs 5 taps deep",
        "@United 2 hours at the gate and not one announcement",
        "@Aviva took 3 months to pay out a tiny claim",
        "@EE so you're putting prices up again mid-contract?",
    ),
    "waiting": (
        "@Vodafone 55 minutes of hold music and counting",
        "ordered from @Deliveroo at 7, it's now 9:15 and still no food",
        "@Barclays my refund was promised within 5 working days. that was 3 weeks ago",
        "emailed @Aviva about my claim on Monday. it's Friday. not even an auto reply",
        "the queue at the Argos collection point is out the door and one person is serving",
        "@BritishGas engineer was due between 8 and 12. it's 4pm. took a day off for this",
        "@Netflix support said someone would get back to me in 24h. that was last Tuesday",
        "@United sat on the tarmac for 3 hours with no updates, still haven't taken off",
        "day 12 of my new router being 'out for delivery' @Xfinity",
        "@DoorDash driver's been 'nearly there' for 40 min, pizza's going to be ice cold",
    ),
    "ivr_menu": (
        "@Verizon your phone menu has 9 options and none of them is 'talk to a person'",
        "pressed 0 about fifteen times trying to get past the @Chase robot. it just loops",
        "@Spotify your chat assistant keeps sending me the same help article whatever I type",
        "got transferred 4 times by @Xfinity and ended up back at the start",
        "@Amazon is there any way to reach an actual human? chat only offers 'track my package'",
        "that reply from @Geico was clearly copy-paste, it doesn't even mention my question",
        "@BritishGas the automated line hung up on me after I said 'other' three times",
        "@Ryanair the virtual assistant has no option for a cancelled flight. now what",
        "'your call is important to us' for the ninth time @EE, then the line goes dead",
        "me: I need to report fraud. @Monzo bot: here are some tips for saving money!",
    ),
    "not_known": (
        "@Vodafone 15 years with you and a brand new customer gets a better deal than me",
        "third time today I've given @Barclays my sort code, birthday and mum's maiden name",
        "@Netflix your system says my account doesn't exist but you charged me yesterday",
        "@United gold member for 8 years and the gate agent acted like I'd never flown",
        "@Aviva you've got my address wrong AGAIN after I updated it twice",
        "@Chase why does every department make me verify from scratch? you're one bank",
        "been with @BritishGas since 2009 and apparently I'm a 'new customer' with no history",
        "@Amazon says I never bought the laptop I'm trying to return. it's in my order email",
        "every time I call @Xfinity I explain the whole problem from the start. nobody reads notes",
        "@Spotify premium since 2013 and you email me 'welcome! try premium free'. who am I to you",
    ),
    "unresolved": (
        "@Verizon called four times about the same dropped calls and it's still not fixed",
        "@Xfinity you said a technician would call me back yesterday. nobody called",
        "@Amazon third chat about the same missing refund. each agent 'escalates' it. nothing",
        "@Barclays 'we'll sort it within 48 hours' - three weeks and five phone calls ago",
        "@EE every agent closes my ticket and the internet drops again the same evening",
        "@Geico passed between claims, billing and sales for a week and no one will fix it",
        "@Spotify the 'fix' you sent didn't work. neither did the second one",
        "@DoorDash chat promised a refund on Monday. today chat says there's no record of it",
        "@BritishGas same boiler fault, engineer visit number 4, still no heating",
        "@Netflix cleared the cache, reinstalled, restarted the router. twice. same error",
    ),
    "staff_attitude": (
        "the guy at the @Argos till rolled his eyes and kept chatting to his mate",
        "@Vodafone the agent laughed when I said I'd been overcharged. actually laughed",
        "@Ryanair gate staff shouting at families with kids like we're cattle",
        "asked the @Target manager for help and she said 'not my department' and walked off",
        "@DoorDash driver threw the bag at my door and swore at me when I said it was wrong",
        "@Chase the woman at the branch explained overdrafts to me like I'm five",
        "@BritishGas engineer tracked mud all over my carpet and left without a word",
        "@Xfinity your rep told me to 'google it' when I asked how to set up the modem",
        "@United flight attendant ignored my call button for an hour, then snapped at me",
        "@Aviva your claims handler hung up on me mid-sentence",
    ),
    "self_service": (
        "@Barclays app logs me out every time I try to pay someone. had to go into a branch",
        "@Vodafone there's no way to cancel my add-on online, I'm forced to call",
        "@Amazon the returns page just spins forever when I click submit",
        "@Netflix the reset email never arrives and the help centre link is dead",
        "@Ryanair website crashed at payment three times and now the fare's gone up",
        "@Geico the 'file a claim' button in your app does literally nothing",
        "@EE why does changing my address need a phone call in 2024? not in my account page",
        "@BritishGas the meter reading form says 'invalid' for the number on my actual meter",
        "@Chase tried to log in 6 times, 'something went wrong, try again later' every time",
        "@Deliveroo there's no button anywhere in the app to report a missing item",
    ),
    "billing": (
        "@Spotify charged me twice for premium this month",
        "@Vodafone my bill jumped £18 with no warning and no explanation",
        "@Netflix I cancelled in March, why are you still taking money from my account",
        "@BritishGas £600 'estimated' when I've sent you meter readings every month",
        "@Ryanair £50 to change a name on a ticket. daylight robbery",
        "@Amazon still no refund for the return you received 3 weeks ago",
        "@Chase $35 overdraft fee over a $2 coffee. thanks a lot",
        "@Geico premium up 40% at renewal and I haven't made a single claim",
        "@Xfinity the 'free' install showed up as $99 on my statement",
        "@DoorDash checkout was $9 more than the menu said",
    ),
    "product_failure": (
        "@Verizon no signal in my whole neighbourhood since this morning",
        "@Spotify app crashes every time I open a playlist",
        "@Deliveroo half my order missing and the curry I did get was stone cold",
        "@Amazon the blender arrived with a cracked jug. second time",
        "@United flight cancelled an hour before boarding and no rebooking offered",
        "@Netflix every show buffers for 30 seconds then drops to potato quality",
        "@ThamesWater no water in the whole street since 6am",
        "@EE broadband has dropped out 11 times today. working from home is impossible",
        "@Target the shoes fell apart after two weeks",
        "@Ryanair landed in Dublin, my bag is apparently in Barcelona",
    ),
    "marketing_spam": (
        "@Vodafone I've unsubscribed 4 times, stop texting me about upgrades",
        "@Spotify 3 ads in a row between every song now",
        "@Amazon why am I getting emails for baby products. I bought ONE gift",
        "@BritishGas your sales guy rang at 8pm on a Sunday to push boiler cover",
        "@Barclays how did a 'partner' get my number? I never agreed to share my details",
        "@Deliveroo 5 push notifications a day about deals I never asked for",
        "@Xfinity every call turns into a pitch for a TV package I don't want",
        "@Ryanair 10 pop-ups selling me insurance, seats and car hire before I can pay",
        "@Geico got a renewal 'reminder' that's really a sales pitch for life insurance",
        "@Chase stop calling me about credit card offers, I've said no five times",
    ),
    "churn_intent": (
        "@Vodafone contract ends in March and I'm off to Three",
        "just cancelled @Netflix. not paying more for less",
        "@Barclays moving my salary and savings to Monzo this weekend",
        "thinking about switching to Apple Music honestly @Spotify",
        "@Xfinity that's it, I'm done. returning the box tomorrow",
        "never ordering from @DoorDash again",
        "@Aviva won't be renewing, found the same cover for half the price",
        "@Ryanair last time I ever fly with you",
        "ported my number to giffgaff today. bye @EE",
        "@Amazon cancelled prime. free delivery isn't free if it takes 2 weeks",
    ),
    "sentiment:negative": (
        "@Vodafone worst network I've ever been on",
        "@Netflix the new interface is awful",
        "@Chase your app is a disgrace",
        "@DoorDash cold food, rude driver, no refund. brilliant.",
        "@Ryanair absolutely miserable experience from start to finish",
    ),
    "sentiment:neutral": (
        "@EE what's the roaming charge in Spain?",
        "@Aviva can I add a second driver to my policy?",
        "@Netflix is the new season out on the 12th or the 15th?",
        "@Target do you price match online?",
        "@Barclays DM sent",
    ),
    "sentiment:positive": (
        "@Monzo honestly the best bank I've ever used",
        "@Spotify discover weekly is unreal this week 🔥",
        "@BritishGas huge thanks to Dave the engineer, absolute star",
        "@United smooth flight, friendly crew, landed early. more like this",
        "@Amazon great prices in the sale, got everything I needed",
    ),
}

# Posts that must not get the label: praise, questions, reply fragments, and near misses
# that use a theme's or churn's words without meaning them.
MFT_NEGATIVES: Mapping[str, tuple[str, ...]] = {
    "complaint": (
        "@Vodafone how do I add my daughter to my plan?",
        "@Netflix what time does the new season drop?",
        "@Deliveroo thanks, the driver was lovely and the food was still hot",
        "@Barclays DM sent",
        "@Spotify this year's wrapped is so good 😍",
        "@Amazon package arrived a day early, cheers!",
        "@BritishGas engineer was brilliant, boiler fixed in 20 mins",
        "@United is there wifi on the 6am flight to Denver?",
        "@EE yes that's right",
        "@Aviva quick question, does my policy cover a courtesy car?",
        "@Chase just set up the new app, really smooth",
        "@Target love the new store layout",
    ),
    "waiting": (
        "@Netflix can't wait for the new season!!",
        "waiting for my new kindle from @Amazon like a kid on Christmas Eve",
        "@DoorDash food here in 15 minutes, impressed",
    ),
    "ivr_menu": (
        "@Chase the chatbot sorted my card freeze in 30 seconds, nice",
        "@Vodafone what's the number for the automated top-up line?",
    ),
    "not_known": (
        "@Barclays updated my address in the app, took 2 minutes",
        "@Spotify 10 years a premium member and still love it",
    ),
    "unresolved": (
        "@Xfinity called once, fixed in 10 minutes. that's how it should be",
        "@Verizon is the outage on Elm St fixed yet?",
    ),
    "staff_attitude": (
        "shoutout to the lad at the @Argos till who helped me carry the TV to my car",
        "@United the crew on UA 923 were brilliant with my nervous kid",
    ),
    "self_service": (
        "@EE how do I change my address in the app?",
        "@Geico filed my claim in the app in 5 minutes, easy",
    ),
    "billing": (
        "@Spotify is the student discount still available?",
        "@Netflix refund came through already, cheers for the quick turnaround",
        "@BritishGas paid my bill, all good",
    ),
    "product_failure": (
        "@Amazon the blender is amazing, smoothies every morning",
        "@Ryanair landed 20 min early!",
    ),
    "marketing_spam": (
        "@Deliveroo that 50% off code was a lifesaver tonight",
        "@Vodafone do you have any deals on the new iPhone?",
    ),
    "churn_intent": (
        "@Netflix I'm dying of laughter at this new comedy",
        "@Spotify switching to dark mode was the best update",
        "@Vodafone third outage this month and I am absolutely fuming",
        "@Amazon I'd leave my family for your same-day delivery honestly",
        "@Barclays just switched to the premier account, nice perks",
        "@EE 12 years with you and not going anywhere, just fix the signal please",
        "@Deliveroo cancelled my order by mistake, can you help me reorder?",
        "@Chase thinking of moving my savings into your high-yield account, what's the rate?",
    ),
}

MFT_CASES: tuple[MFTCase, ...] = (
    tuple(MFTCase(text, label, True) for label, texts in MFT_POSITIVES.items() for text in texts)
    + tuple(MFTCase(text, label, False)
            for label, texts in MFT_NEGATIVES.items() for text in texts)
    + tuple(MFTCase(text, label, expected, "churn") for text, label, expected in CHURN_CASES)
    + tuple(MFTCase(text, label, expected, "negation")
            for text, label, expected in NEGATION_CASES)
)

# Complaints, praise and questions, each naming a brand of BRAND_SWAPS; every edit of
# PERTURBATIONS is applied to every one.
INV_BASES: tuple[str, ...] = (
    "@Vodafone no signal at home for 3 days now and nobody can tell me why",
    "@Netflix charged me again after I cancelled. sort it out",
    "@Deliveroo my order never turned up and the app says delivered",
    "@Barclays your app has been down all morning, can't pay my rent",
    "@Spotify the app crashes every time I open my library",
    "@Amazon third parcel this month left out in the rain",
    "@BritishGas 45 minutes on hold just to give a meter reading",
    "@Ryanair cancelled my flight by text at midnight. no refund, no rebooking",
    "@Chase why is there a $12 fee on my statement I never agreed to",
    "@EE broadband down again, third time this week",
    "@Xfinity the technician never showed up and nobody called",
    "@Geico been waiting two weeks for someone to look at my claim",
    "@Target wrong size delivered and the returns page won't load",
    "@DoorDash driver ate half my fries, not even joking",
    "@Aviva the agent hung up on me when I asked about my claim",
    "@United lost my bag on a direct flight. how",
    "@Verizon your chatbot keeps telling me to restart my phone. I have. ten times",
    "@Argos ordered a kettle, got a toaster",
    "@Monzo card frozen for a week and chat just says 'we're looking into it'",
    "@Vodafone stop texting me upgrade offers, I've opted out twice",
    "@Netflix had to reset my password 4 times this month, it keeps forgetting me",
    "@Spotify subscriber for 10 years and new users get a better price than me",
    "@Ryanair the woman at the desk was unbelievably rude to my mum",
    "@Amazon promised a refund three times now and still nothing",
    "@Monzo instant notifications for every payment, love it",
    "@Deliveroo food arrived early and still hot, cheers",
    "@EE signal at the festival was perfect, well done",
    "@Netflix the new season is incredible, please renew it",
    "@Chase the fraud team sorted my card in 5 minutes. amazing",
    "@United the crew on my flight to Denver were fantastic",
    "@Aviva claim paid in two days, really impressed",
    "@Target the self checkout is so much faster now",
    "@Spotify my discover weekly is spot on this week",
    "@BritishGas the engineer today was brilliant, thanks",
    "@Vodafone how do I turn on roaming for my trip?",
    "@Barclays what time does the Leeds branch open on Saturday?",
    "@Amazon can I change the delivery address after ordering?",
    "@Xfinity is there a student discount on internet?",
    "@Geico do I need to tell you if I move house?",
    "@DoorDash do you deliver to the airport hotels?",
    "@Ryanair what's the size limit for the small cabin bag?",
    "@Argos can I collect an online order from any store?",
    "@Verizon is the new iPhone in stock at the Main St store?",
    "@Deliveroo DM sent",
    "@Netflix which plan has 4K?",
)

INV_CASES: tuple[InvCase, ...] = tuple(
    InvCase(text, name) for text in INV_BASES for name in PERTURBATIONS
)

CHANGES: Mapping[str, Change] = {
    "switching": Change("I'm cancelling and switching to {competitor}.", "churn_intent", "up"),
    "closing": Change("Closing my account this week, done with you.", "churn_intent", "up"),
    "considering": Change("Seriously thinking about moving to {competitor}.",
                          "churn_intent", "up"),
    "staying": Change("Not going anywhere, I just want it fixed.", "churn_intent", "not_up"),
    "thanks": Change("Thanks for your help.", "churn_intent", "not_up"),
    "thanks_tone": Change("Thanks for your help.", "sentiment:negative", "not_up"),
    "sorted": Change("Update: all sorted now, thanks!", "sentiment:negative", "down"),
    "on_hold": Change("Been on hold for 50 minutes now.", "waiting", "up"),
    "bot_loop": Change("Your chatbot just sends me round in circles.", "ivr_menu", "up"),
    "repeat_details": Change("Had to give my account number AGAIN.", "not_known", "up"),
    "third_contact": Change("Third time I've contacted you about this.", "unresolved", "up"),
    "rude_agent": Change("And the guy on the phone was so rude to me.", "staff_attitude", "up"),
    "login_broken": Change("Can't even log in to the app to check.", "self_service", "up"),
    "charged_twice": Change("Oh and you charged me twice this month.", "billing", "up"),
    "stopped_working": Change("Now it's stopped working completely.", "product_failure", "up"),
    "spam": Change("Also stop spamming me with offers.", "marketing_spam", "up"),
}

# Mild problems and questions, each naming a brand of BRAND_SWAPS; every change of
# CHANGES is appended to every one.
DIR_BASES: tuple[str, ...] = (
    "@Vodafone my signal keeps dropping in the evenings.",
    "@Netflix the app keeps logging me out on the TV.",
    "@Barclays my card got declined at the shop even though there's money in the account.",
    "@Deliveroo my order came without the drinks.",
    "@Spotify my downloads disappeared after the update.",
    "@BritishGas I have a question about my last bill.",
    "@Amazon tracking says delivered but there's nothing here.",
    "@EE how do I set up wifi calling?",
    "@Ryanair my flight got moved to 6am.",
    "@Chase my transfer still hasn't shown up.",
    "@Geico I need to change the car on my policy.",
    "@Xfinity internet is really slow tonight.",
    "@Target my online order got split into three deliveries.",
    "@Aviva I sent my claim documents in last week.",
    "@DoorDash the driver went to the wrong address.",
    "@United my seat assignment disappeared from my booking.",
    "@Monzo my savings pot isn't showing any interest.",
    "@Argos the TV I collected didn't come with a remote.",
    "@Verizon my bill looks different this month.",
    "@Netflix can I download episodes on my laptop?",
    "@Vodafone roaming didn't work in France last week.",
    "@Spotify the podcast section is confusing.",
)

DIR_CASES: tuple[DirCase, ...] = tuple(
    DirCase(text, change) for text in DIR_BASES for change in CHANGES
)
