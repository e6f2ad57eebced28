"""``radar monitor``: scheduled monitoring cycles over a YAML config.

:func:`register` adds the command to the ``radar`` app.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table
from rich.text import Text

from nlp.console import TrackingOption, console, err_console, fail, labelled, make_table

if TYPE_CHECKING:
    from radar.monitor.cycle import CycleResult
    from radar.store.history import HistoryPoint

# The exit status, for cron or a scheduler: of the last cycle, or why none ran.
EXIT_OK, EXIT_NO_CYCLE, EXIT_USAGE, EXIT_STEP_FAILED, EXIT_UNDELIVERED, EXIT_BOTH = range(6)
EXIT_CODES = {
    EXIT_OK: "every step ran and every alert delivery it tried was sent",
    EXIT_NO_CYCLE: "the config or the store is wrong: no cycle ran, or none could finish "
                   "(the 'error:' line says why)",
    EXIT_USAGE: "the command line is wrong (an unknown option or a missing value)",
    EXIT_STEP_FAILED: "a step failed (a source, an import, the model, scoring, the risk "
                      "history or the alert rules and channels); the other steps ran and "
                      "the 'failed:' lines say which",
    EXIT_UNDELIVERED: "an alert delivery failed (the 'not delivered:' lines say which and "
                      "why); the alert is recorded and the next cycles send it again",
    EXIT_BOTH: "both: a step failed (3) and an alert delivery failed (4)",
}
MONITOR_HELP = ("Collect, import, score new posts, update the risk history and send alerts."
                "\n\nExit status (of the last cycle):\n\n"
                + "\n\n".join(f"{code}: {text}." for code, text in EXIT_CODES.items()))


def exit_status(result: CycleResult) -> int:
    """The exit status a cycle gives cron (:data:`EXIT_CODES`)."""
    if result.errors and result.undelivered:
        return EXIT_BOTH
    if result.errors:
        return EXIT_STEP_FAILED
    return EXIT_UNDELIVERED if result.undelivered else EXIT_OK


def register(app: typer.Typer) -> None:
    """Add ``monitor`` to ``app``."""

    @app.command("monitor", help=MONITOR_HELP)
    def monitor(
        config: Annotated[Path, typer.Option("--config", "-c", help="Monitor YAML (see "
                                             "monitor.example.yaml).")],
        once: Annotated[bool, typer.Option(help="Run one cycle and exit (for cron or a "
                                                "scheduler).")] = False,
        db: Annotated[str | None, typer.Option(
            "--db", help="Post store (a SQLite file or a postgresql:// URL); default: the "
                         "config's store, $RADAR_DB, data/radar.db.")] = None,
        tracking_uri: TrackingOption = None,
    ) -> None:
        """The help is :data:`MONITOR_HELP`: what a cycle does and the exit codes."""
        from nlp.classifier import load_classifier
        from nlp.risk import SCORE_VERSION
        from radar.monitor.config import MonitorConfigError, load_monitor_config
        from radar.monitor.cycle import run_monitor
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

        try:
            results = run_monitor(settings, store_path, once, load_model,
                                  log=lambda m: err_console.print(m, soft_wrap=True),
                                  on_cycle=print_cycle)
            with open_store(store_path) as store:
                points = latest_points(store, SCORE_VERSION)
        except StoreError as exc:
            raise fail(str(exc)) from exc
        console.print(latest_table(points))
        status = exit_status(results[-1]) if results else EXIT_OK
        if status != EXIT_OK:
            raise typer.Exit(code=status)


def print_cycle(result: CycleResult) -> None:
    """A cycle's counts on stdout; its failed steps and deliveries on stderr."""
    failed = f", {len(result.undelivered)} failed" if result.undelivered else ""
    line = (f"cycle: {sum(result.collected.values()):,} collected, "
            f"{sum(result.imported.values()):,} imported, {result.scored:,} scored, "
            f"{result.points} history points, {result.alerts} alerts "
            f"({result.delivered} deliveries{failed}) in {result.seconds:.1f} s")
    console.print(line + (" (stopped)" if result.stopped else ""), soft_wrap=True)
    for error in result.errors:
        err_console.print(labelled("failed:", "bold yellow", error), soft_wrap=True)
    for delivery in result.undelivered:
        err_console.print(labelled("not delivered:", "bold yellow", delivery), soft_wrap=True)


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
            table.add_row(Text(f"too few customers to rank (< {minimum}):", style="dim"))
        label = trend_label(p.trend, p.trend_significant, p.partial or p.previous_partial,
                            p.earlier)
        window = f"{p.window_start:%Y-%m-%d} – {p.window_end:%Y-%m-%d}"
        table.add_row(p.brand, window + (" partial" if p.partial else ""),
                      f"{p.customers:,}", f"{p.at_risk_share:.1%}",
                      f"{p.ci_low:.1%}–{p.ci_high:.1%}", TREND_ARROWS[label] + (
                          f" {p.trend:+.1%}" if label in ("up", "down", "flat") else ""),
                      p.model_version)
    return table
