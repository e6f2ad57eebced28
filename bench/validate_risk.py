"""Validate the at-risk score against 2015 airline satisfaction indexes (docs/risk.md).

Spearman correlation between each brand's at-risk share on the airline-2015 tweets
(scored by a model) and the ACSI and J.D. Power 2015 indexes, next to the naive
"share of negative tweets" (gold labels and the model's), for the whole period and for
each half. Higher risk should mean lower satisfaction: a perfect rank order is -1.

    RADAR_DATA_MIRROR=../shared/datasets .venv/bin/python bench/validate_risk.py \\
        [data/processed/demo/airline-2015.scored.parquet] [--json OUT.json]

The scored file is what ``make demo`` writes (or ``radar score`` on the airline tweets).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd
from scipy.stats import spearmanr

from nlp.brands import BrandBook
from nlp.report import build_report

# Published 2015 indexes, as re-checked in issue [J]. The dataset's "Delta" rows are
# JetBlue's (nlp.brands.airline_2015_brand), so JetBlue is compared and Delta is not.
ACSI_2015 = {"JetBlue": 81, "Southwest": 78, "American": 66, "United": 60}
JD_POWER_2015 = {"JetBlue": 801, "Southwest": 781, "American": 700, "US Airways": 668,
                 "United": 665}
INDEXES = {"ACSI": ACSI_2015, "J.D. Power": JD_POWER_2015}
DEFAULT_SCORED = Path("data/processed/demo/airline-2015.scored.parquet")
BRANDS = Path("data/brands.yaml")


def spearman(values: dict[str, float], index: dict[str, float]) -> tuple[float, int]:
    brands = [b for b in index if b in values]
    rho = spearmanr([values[b] for b in brands], [index[b] for b in brands]).statistic
    return float(rho), len(brands)


def risk_by_half(scored: Path, book: BrandBook, mentions_only: bool) -> dict[str, dict]:
    """{period: {brand: (share, ci_low, ci_high, customers)}} for all, first and second half."""
    out: dict[str, dict] = {}
    whole = build_report(scored, book, window="all", mentions_only=mentions_only)
    out["all"] = {w.risk.brand: w for w in whole.windows}
    halves = build_report(scored, book, window="4d", mentions_only=mentions_only)
    for w in halves.windows:
        out.setdefault(f"{w.risk.window_start:%b %d}–{w.risk.window_end:%b %d}", {})[
            w.risk.brand] = w
    return out


def negative_shares(scored: Path, halves: list[str]) -> dict[str, dict[str, dict[str, float]]]:
    """Share of negative tweets per brand: the model's and the gold labels', per period."""
    from training import datasets as registry

    gold = pd.DataFrame(registry.load("airline-sentiment-2015"))[["post_id", "sentiment"]]
    frame = pd.read_parquet(scored, columns=["id", "brand", "created_at", "sentiment"])
    frame = frame.merge(gold.rename(columns={"post_id": "id", "sentiment": "gold"}), on="id")
    frame["day"] = pd.to_datetime(frame["created_at"]).dt.tz_convert("UTC")
    out: dict[str, dict[str, dict[str, float]]] = {}
    periods = {"all": frame}
    split = pd.Timestamp("2015-02-21", tz="UTC")
    periods[halves[0]], periods[halves[1]] = frame[frame.day < split], frame[frame.day >= split]
    for name, part in periods.items():
        out[name] = {
            "negative share (model)": (part.sentiment == "negative").groupby(part.brand).mean()
            .to_dict(),
            "negative share (gold)": (part.gold == "negative").groupby(part.brand).mean()
            .to_dict(),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scored", nargs="?", type=Path, default=DEFAULT_SCORED)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    book = BrandBook.from_yaml(BRANDS)
    results = []
    for mode, mentions_only in (("brand column", False), ("brand from mentions", True)):
        periods = risk_by_half(args.scored, book, mentions_only)
        halves = [p for p in periods if p != "all"]
        naive = negative_shares(args.scored, halves) if not mentions_only else {}
        for period, windows in periods.items():
            print(f"\n== {mode}, {period} ==")
            for brand in sorted(windows, key=lambda b: -windows[b].risk.at_risk_share):
                r = windows[brand].risk
                print(f"  {brand:15s} at risk {r.at_risk_share:6.1%} "
                      f"[{r.ci_low:.1%}, {r.ci_high:.1%}]  customers {r.customers:5d}")
            measures = {"at-risk share": {b: w.risk.at_risk_share for b, w in windows.items()}}
            measures.update(naive.get(period, {}))
            for measure, values in measures.items():
                for index_name, index in INDEXES.items():
                    rho, n = spearman(values, index)
                    results.append({"brands": mode, "period": period, "measure": measure,
                                    "index": index_name, "spearman": round(rho, 3),
                                    "n_brands": n})
                    print(f"  Spearman({measure}, {index_name}) = {rho:+.2f} over {n} brands")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
