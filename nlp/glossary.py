"""The words every output uses for its figures: one line each, said the same everywhere.

The terminal's table captions, the ``--json`` file, the REST schemas, the dashboard's
tooltips and the README read their names and definitions from here, so a figure is
called the same thing wherever a person reads it.
"""

from __future__ import annotations

from nlp.risk import BASE_DRIVER, CHURN_DRIVER, SCORE_VERSION

# The headline figure: the mean of each customer's risk, which is the share of customers
# one expects to be on their way out; not a count of customers above a cut-off.
HEADLINE = "expected share of customers at risk"
HEADLINE_SHORT = "share at risk"  # a column header

DRIVERS = (f"each driver's share of the brand's risk: {CHURN_DRIVER} (said they will leave), "
           f"a complaint theme, or {BASE_DRIVER} (complaint evidence no predicted theme "
           "explains); customers weigh by their risk, so it differs from the per-post top "
           "reasons")
TOP_REASONS = ("share of the brand's complaint posts naming the theme (a post may name "
               "several); counts posts, not customers or risk, so it differs from the risk "
               "table's drivers")

# Field of a brand-window (the --json file, /v1/risk, /v1/brands) -> one line.
FIELDS: dict[str, str] = {
    "customers": "distinct authors in the window; a post without an author is one customer",
    "posts": "the posts of those customers in the window",
    "at_risk_share": f"{HEADLINE}: the mean of each customer's risk (probability of being "
                     f"on the way out, {SCORE_VERSION}, docs/risk.md)",
    "ci_low": "low end of the share's 95% interval",
    "ci_high": "high end of the share's 95% interval",
    "ci_method": "how the interval was computed: 'bootstrap' over customers, or 'wilson' "
                 "(the Wilson score interval) when too few customers to resample",
    "expected_at_risk": "expected number of customers at risk: share × customers",
    "previous_share": "the share in the window before",
    "previous_customers": "the customers in the window before",
    "trend": "change of the share against the window before",
    "trend_label": "up/down: a change beyond the noise; flat: within it; new: no earlier "
                   "window; gap: no customers in the window before; partial: this window "
                   "or the one before is only partly covered by the posts, so not compared",
    "ranked": "enough customers to rank by share (see min_customers_ranked); brands with "
              "fewer are listed apart",
    "partial": "the posts cover this window only in part",
    "previous_partial": "the posts cover the window before only in part",
    "drivers": DRIVERS,
    "score_version": "the risk formula's version",
}


def field_help(name: str) -> str:
    """The one-line definition of a field (KeyError for a name without one)."""
    return FIELDS[name]
