"""``radar monitor``: scheduled monitoring cycles over a YAML config.

:func:`register` adds the command to the ``radar`` app.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from nlp.console import TrackingOption, console, err_console, fail, make_table

if TYPE_CHECKING:
    from radar.store.history import HistoryPoint


def register(app: typer.Typer) -> None:
    """Add ``monitor`` to ``app``."""

    @app.command("monitor")
    def monitor(
        config: Annotated[Path, typer.Option("--config", "-c", help="Monitor YAML (see "
                                             "monitor.example.yaml).")],
        once: Annotated[bool, typer.Option(help="Run one cycle and exit (for cron or a "
                                                "scheduler).")] = False,
        db: Annotated[Path | None, typer.Option(
            "--db", help="Post store; default: the config's store, $RADAR_DB, data/radar.db.")
        ] = None,
        tracking_uri: TrackingOption = None,
    ) -> None:
        """Collect, import, score new posts, update the risk history and send alerts."""
        from nlp.classifier import load_classifier
        from nlp.risk import SCORE_VERSION
        from radar.monitor.config import MonitorConfigError, load_monitor_config
        from radar.monitor.cycle import CycleResult, run_monitor
        from radar.store import StoreError, open_store
        from radar.store.history import latest_points

        try:
            settings = load_monitor_config(config)
        except MonitorConfigError as exc:
            raise fail(str(exc)) from exc
        store_path = db or settings.store

        def load_model():
            model = load_classifier(settings.model, tracking_uri, backend=settings.backend)
            err_console.print(f"model {model.model_version} ({settings.model})", soft_wrap=True)
            return model

        def report(result: CycleResult) -> None:
            line = (f"cycle: {sum(result.collected.values()):,} collected, "
                    f"{sum(result.imported.values()):,} imported, {result.scored:,} scored, "
                    f"{result.points} history points, {result.alerts} alerts "
                    f"({result.delivered} deliveries) in {result.seconds:.1f} s")
            console.print(line + (" (stopped)" if result.stopped else ""), soft_wrap=True)
            for error in result.errors:
                # The error is text, not markup: an install hint holds an extra in brackets.
                err_console.print(f"[bold yellow]failed:[/bold yellow] {escape(error)}",
                                  soft_wrap=True, markup=True, highlight=False)

        try:
            results = run_monitor(settings, store_path, once, load_model,
                                  log=lambda m: err_console.print(m, soft_wrap=True,
                                                                  markup=False),
                                  on_cycle=report)
            with open_store(store_path) as store:
                points = latest_points(store, SCORE_VERSION)
        except StoreError as exc:
            raise fail(str(exc)) from exc
        console.print(latest_table(points))
        if results and results[-1].errors:
            raise typer.Exit(code=1)


def latest_table(points: Sequence[HistoryPoint]) -> Table:
    """Each brand's latest window after a monitor cycle, in the order of every other table:
    ranked brands by share, then those with too few customers to rank, listed apart."""
    from nlp.glossary import HEADLINE, HEADLINE_SHORT, field_help
    from nlp.risk import RiskConfig, ranking_key
    from nlp.trend import TREND_ARROWS, trend_label

    minimum = RiskConfig().min_customers_ranked
    numbers = ("window", "customers", HEADLINE_SHORT, "95% CI", "trend")
    table = make_table("brand", *numbers, "model", numbers=numbers,
                       title=f"latest window per brand: {HEADLINE}",
                       caption=f"{HEADLINE_SHORT}: {field_help('at_risk_share')}; ranked "
                               f"by share from {minimum} customers, fewer are listed "
                               f"apart; trend: {field_help('trend_label')}")
    ranked = [p.customers >= minimum for p in points]
    order = sorted(zip(points, ranked, strict=True),
                   key=lambda pr: ranking_key(pr[0].brand, pr[0].at_risk_share,
                                              pr[0].customers, pr[1]))
    for i, (p, is_ranked) in enumerate(order):
        if not is_ranked and (i == 0 or order[i - 1][1]):
            table.add_section()
            table.add_row(f"[dim]too few customers to rank (< {minimum}):[/dim]")
        label = trend_label(p.trend, p.trend_significant, p.partial or p.previous_partial,
                            p.earlier)
        window = f"{p.window_start:%Y-%m-%d} – {p.window_end:%Y-%m-%d}"
        table.add_row(escape(p.brand), window + (" partial" if p.partial else ""),
                      f"{p.customers:,}", f"{p.at_risk_share:.1%}",
                      f"{p.ci_low:.1%}–{p.ci_high:.1%}", TREND_ARROWS[label] + (
                          f" {p.trend:+.1%}" if label in ("up", "down", "flat") else ""),
                      escape(p.model_version))
    return table
